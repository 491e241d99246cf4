"""Scenario files: the bundled ones load, and mistakes are reported with terminal, step and
problem, all at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fwsim.scenario import ScenarioError, load_scenario, parse_scenario
from fwsim.scenario.loader import NOT_A_SITE_DAY
from fwsim.scenario.model import Offline, Return, Silent, Sos, Stay, Walk

SCENARIOS = Path(__file__).resolve().parents[3] / "firmware-sim" / "scenarios"


def _doc(**terminal: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "device_id": "13800000001",
        "format": "json",
        "anchor": {"lat": 30.5928, "lon": 114.3055},
        "timeline": [{"stay": {"duration_s": 60}}],
    }
    base.update(terminal)
    return {"terminals": [base]}


SITE_DAY: dict[str, Any] = {
    "site": str(SCENARIOS / "sites" / "riverside-plaza.yaml"),
    "date": "2026-03-02",
    "start": "08:00",
    "end": "08:10",
}
"""What makes a document a site-day file, around its terminals."""


def _problems(doc: Any) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc, "test.yaml")
    return info.value.problems


GPS_SCENARIOS = sorted(
    p for p in SCENARIOS.glob("*.yaml") if "terminals" in yaml.safe_load(p.read_text("utf-8"))
)
"""The site-day files with GPS terminals; those with only readers and clock-in terminals load
as field scenarios."""


@pytest.mark.parametrize("path", GPS_SCENARIOS, ids=lambda p: p.stem)
def test_bundled_gps_scenario_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.terminals


def test_bundled_scenarios_are_the_four_documented_ones() -> None:
    assert {p.stem for p in SCENARIOS.glob("*.yaml")} >= {
        "single-guard-departure",
        "all-formats",
        "silent-and-sos",
        "blind-area-batch",
    }


def test_single_guard_departure_reads_as_stay_walk_away_return_stay() -> None:
    scenario = load_scenario(SCENARIOS / "single-guard-departure.yaml")
    (guard,) = scenario.terminals
    assert guard.anchor == (30.5928, 114.3055)
    assert guard.timeline == (
        Stay(300.0),
        Walk((250.0, 0.0), 1.4),
        Stay(960.0, away=True),
        Return(1.4),
        Stay(600.0),
    )


def test_every_step_kind_parses() -> None:
    doc = _doc(
        timeline=[
            {"stay": {"duration_s": 10}},
            {"walk": {"to": {"east_m": -30}}},
            {"sos": None},
            {"silent": {"duration_s": 20}},
            {"offline": {"duration_s": 30}},
            {"return": {}},
        ]
    )
    (terminal,) = parse_scenario(doc).terminals
    assert terminal.timeline == (
        Stay(10.0), Walk((0.0, -30.0), 1.4), Sos(1), Silent(20.0), Offline(30.0), Return(1.4),
    )  # fmt: skip


def test_walk_target_may_be_given_in_wgs84() -> None:
    doc = _doc(timeline=[{"walk": {"to": {"lat": 30.5928 + 0.001, "lon": 114.3055}}}])
    (walk,) = parse_scenario(doc).terminals[0].timeline
    assert isinstance(walk, Walk)
    assert walk.to[0] == pytest.approx(111.3, abs=0.5) and walk.to[1] == pytest.approx(0.0)


def test_walk_with_zero_speed_names_terminal_step_and_key() -> None:
    doc = _doc(
        timeline=[{"stay": {"duration_s": 60}}, {"walk": {"to": {"north_m": 9}, "speed_mps": 0}}]
    )
    assert _problems(doc) == [
        "terminals[0] (13800000001) timeline[1] (walk): 'speed_mps' must be positive, got 0"
    ]


def test_unknown_step_and_missing_duration_are_both_reported() -> None:
    doc = _doc(timeline=[{"teleport": {}}, {"stay": {}}])
    problems = _problems(doc)
    assert len(problems) == 2
    assert "timeline[0] (teleport): unknown step 'teleport'" in problems[0]
    assert "timeline[1] (stay): give exactly one of 'duration_s' and 'until_s'" in problems[1]


def test_step_with_two_kinds_or_typo_in_argument_is_refused() -> None:
    problems = _problems(_doc(timeline=[{"stay": {"duration_s": 5}, "sos": {}}]))
    assert "timeline[0]: a step is a mapping with one key" in problems[0]
    problems = _problems(_doc(timeline=[{"stay": {"duraton_s": 5}}]))
    assert any("unknown key 'duraton_s'" in p for p in problems)


def test_a_terminal_without_anchor_is_refused() -> None:
    doc = _doc()
    del doc["terminals"][0]["anchor"]
    assert _problems(doc) == [
        "terminals[0] (13800000001): 'anchor' {lat, lon} is required (a site-day file gives its "
        "'post')"
    ]


def test_named_anchors_of_the_old_terminal_files_are_unknown_keys() -> None:
    doc = _doc(post_anchor="gate-north")
    doc["anchors"] = {"gate-north": {"lat": 30.0, "lon": 114.0}}
    anchors, post_anchor = _problems(doc)
    assert anchors == "unknown key 'anchors' (allowed: description, name, terminals)"
    assert post_anchor.startswith("terminals[0] (13800000001): unknown key 'post_anchor' (allowed:")


def test_out_of_range_anchor_latitude_is_refused() -> None:
    (problem,) = _problems(_doc(anchor={"lat": 95, "lon": 114}))
    assert "'lat' must be at most 90" in problem


def test_unknown_format_and_format_specific_option_are_refused() -> None:
    assert any("'format' must be one of" in p for p in _problems(_doc(format="gt06")))
    problems = _problems(_doc(options={"talker": "GN"}))
    assert any("options: unknown key 'talker'" in p for p in problems)


def test_an_unknown_upload_order_is_refused() -> None:
    (problem,) = _problems(_doc(upload_order="newest_first"))
    assert problem.endswith("'upload_order' must be stored_first or live_first, got 'newest_first'")


def test_jt808_device_id_needs_phone_digits() -> None:
    problems = _problems(_doc(device_id="guard-a", format="jt808"))
    assert any("needs 1 to 12 digits" in p for p in problems)


def test_duplicate_device_ids_are_refused() -> None:
    doc = _doc()
    doc["terminals"].append(dict(doc["terminals"][0]))
    (problem,) = _problems(doc)
    assert problem == "terminals[1] (13800000001): device_id already used by terminals[0]"


def test_sos_count_must_be_whole_and_positive_and_timeline_not_empty() -> None:
    assert any(
        "'count' must be a whole number" in p
        for p in _problems(_doc(timeline=[{"sos": {"count": 0}}, {"stay": {"duration_s": 1}}]))
    )
    assert any("'timeline' must be a non-empty list" in p for p in _problems(_doc(timeline=[])))


def test_sos_fix_must_be_true_or_false() -> None:
    (problem,) = _problems(_doc(timeline=[{"sos": {"fix": "no"}}, {"stay": {"duration_s": 1}}]))
    assert problem.endswith("(sos): 'fix' must be true or false, got 'no'")


def test_a_file_that_names_no_site_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "terminals-only.yaml"
    path.write_text(yaml.safe_dump(_doc()))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.problems == [NOT_A_SITE_DAY]


def test_a_site_day_file_without_gps_terminals_is_refused() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(SCENARIOS / "clock-in-late.yaml")
    assert info.value.problems == ["the site-day file has no GPS terminals"]


def test_invalid_yaml_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("terminals: [\n")
    with pytest.raises(ScenarioError, match=r"(?s)broken\.yaml.*not valid YAML"):
        load_scenario(bad)


def test_error_message_lists_every_problem_on_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    doc = _doc(interval_s=0, timeline=[{"walk": {}}])
    (terminal,) = doc["terminals"]
    del terminal["anchor"]
    terminal["post"] = "rp-gate-north"
    doc.update(SITE_DAY)
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert text.startswith(f"{path}: invalid scenario:")
    assert "'interval_s' must be at least 1" in text
    assert "timeline[0] (walk): 'to' is required" in text
