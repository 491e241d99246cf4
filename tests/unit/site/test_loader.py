"""Loading site files: the sample is accepted, bad files are refused whole, reloads replace."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.db import repository as repo
from gateway.db.models import (
    AlertRow,
    DeviceRow,
    GuardRow,
    LeaderRow,
    PositionRow,
    PostRow,
    PresenceStateRow,
    ShiftRow,
    SiteRow,
)
from gateway.errors import ConfigError
from gateway.pipeline.duty_load import load_duties
from gateway.records import PositionFix
from gateway.samples import WUHAN_SITE
from gateway.site import extend_shifts, load_site_file, validate_site_file
from gateway.site.loader import SiteYamlLoader
from gateway.site.roster import shift_id
from tests.fixtures.roster_queries import active_shifts, shift_for_device

# Monday 2026-03-02 11:00 in Wuhan.
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
CONFIG_TABLES = (SiteRow, PostRow, LeaderRow, GuardRow, DeviceRow, ShiftRow)


def sample() -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(WUHAN_SITE.read_bytes(), SiteYamlLoader)
    return data


def write(tmp_path: Path, data: dict[str, Any], name: str = "site.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return {
            m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in CONFIG_TABLES
        }


def test_sample_site_file_loads_six_posts_ten_guards_and_nine_days_of_shifts(
    engine: Engine,
) -> None:
    summary = load_site_file(WUHAN_SITE, engine, NOW)
    assert summary.site_ids == ("wh-jiangtan-garden",)
    assert (summary.posts, summary.leaders, summary.guards, summary.devices) == (6, 2, 10, 10)
    # Ten daily roster lines, from the local day before to seven days after: 9 days.
    assert summary.shifts == 90
    assert counts(engine) == {
        "sites": 1,
        "posts": 6,
        "leaders": 2,
        "guards": 10,
        "devices": 10,
        "shifts": 90,
    }


@pytest.mark.parametrize(
    ("local_hour", "on_duty"),
    [
        (11, {"g-001", "g-002", "g-003", "g-004", "g-005"}),
        (21, {"g-006", "g-007", "g-008", "g-009", "g-010"}),
        (3, {"g-006", "g-007", "g-008", "g-009", "g-010"}),  # the night shift begun yesterday
    ],
)
def test_sample_has_five_guards_on_duty_at_any_hour(
    engine: Engine, local_hour: int, on_duty: set[str]
) -> None:
    load_site_file(WUHAN_SITE, engine, NOW)
    at = datetime(2026, 3, 2, local_hour, 30, tzinfo=UTC) - timedelta(hours=8)
    with Session(engine) as s:
        assert {row.guard_id for row in active_shifts(s, at)} == on_duty


def test_sample_fences_are_stored_as_drawn_in_gcj02(engine: Engine) -> None:
    load_site_file(WUHAN_SITE, engine, NOW)
    with Session(engine) as s:
        plaza = s.get(PostRow, "jt-plaza")
        assert plaza is not None
        assert plaza.datum == "gcj02"
        assert plaza.fence == {"type": "Circle", "center": [114.299, 30.6042], "radius_m": 30.0}
        datums = set(s.scalars(select(PostRow.datum)))
    assert datums == {"gcj02"}


Mutation = Callable[[dict[str, Any]], None]


def _bow_tie(d: dict[str, Any]) -> None:
    d["sites"][0]["posts"][1]["fence"]["coordinates"] = [
        [
            [114.30233, 30.60485],
            [114.30267, 30.60515],
            [114.30267, 30.60485],
            [114.30233, 30.60515],
            [114.30233, 30.60485],
        ]
    ]


def _site(d: dict[str, Any]) -> dict[str, Any]:
    site: dict[str, Any] = d["sites"][0]
    return site


INVALID: list[tuple[str, Mutation, str]] = [
    (
        "self-intersecting polygon",
        _bow_tie,
        "sites[0].posts[1] (id 'jt-gate-east'): fence polygon self-intersects near "
        "(114.30250, 30.60500)",
    ),
    (
        "unknown datum",
        lambda d: _site(d)["posts"][0].update(datum="wgs-84"),
        "sites[0].posts[0] (id 'jt-gate-north').datum: Input should be 'wgs84', 'gcj02' or "
        "'bd09' (got 'wgs-84')",
    ),
    (
        "missing datum",
        lambda d: _site(d)["posts"][0].pop("datum"),
        "sites[0].posts[0] (id 'jt-gate-north').datum: Field required",
    ),
    (
        "latitude and longitude swapped",
        lambda d: _site(d)["posts"][5]["fence"].update(center=[30.6042, 114.299]),
        "sites[0].posts[5] (id 'jt-plaza'): position [30.6042, 114.299] is not [lon, lat]",
    ),
    (
        "GCJ-02 fence outside China",
        lambda d: _site(d)["posts"][5]["fence"].update(center=[2.35, 48.85]),
        "sites[0].posts[5] (id 'jt-plaza'): Circle centre: [2.35, 48.85] is outside China",
    ),
    (
        "shift on an unknown post",
        lambda d: _site(d)["shifts"][0].update(post="jt-gate-west"),
        "sites[0].shifts[0] (guard 'g-001', post 'jt-gate-west'): unknown post 'jt-gate-west'",
    ),
    (
        "shift of an unknown guard",
        lambda d: _site(d)["shifts"][2].update(guard="g-404"),
        "sites[0].shifts[2] (guard 'g-404', post 'jt-garage-b1'): unknown guard 'g-404'",
    ),
    (
        "overlapping shifts for one guard",
        lambda d: _site(d)["shifts"].append(
            {
                "guard": "g-001",
                "post": "jt-plaza",
                "days": "daily",
                "start": "19:00",
                "end": "23:00",
            }
        ),
        "sites[0].shifts[10] (guard 'g-001', post 'jt-plaza'): [2026-03-01 19:00 to 2026-03-01 "
        "23:00] overlaps sites[0].shifts[0] (guard 'g-001', post 'jt-gate-north') "
        "[2026-03-01 08:00 to 2026-03-01 20:00] for the same guard",
    ),
    (
        "duplicate post id",
        lambda d: _site(d)["posts"][3].update(id="jt-gate-north"),
        "sites[0].posts[3] (id 'jt-gate-north'): duplicate post id (first at sites[0].posts[0] "
        "(id 'jt-gate-north'))",
    ),
    (
        "device bound to an unknown guard",
        lambda d: _site(d)["devices"][4].update(guard="g-099"),
        "sites[0].devices[4] (id 'gps-005'): bound to unknown guard 'g-099'",
    ),
    (
        "shift ending when it starts",
        lambda d: _site(d)["shifts"][3].update(end="08:00"),
        "sites[0].shifts[3] (guard 'g-004', post 'jt-patrol-central'): end 08:00 equals start "
        "08:00: the shift has no length",
    ),
    (
        "unknown time zone",
        lambda d: _site(d).update(timezone="Asia/Wuhan"),
        "sites[0] (id 'wh-jiangtan-garden').timezone: unknown time zone 'Asia/Wuhan'",
    ),
    (
        "unknown policy field",
        lambda d: _site(d).update(policy={"verbal_report_limit_min": 15}),
        "sites[0] (id 'wh-jiangtan-garden').policy.verbal_report_limit_min: unknown policy field",
    ),
    (
        "misspelt field",
        lambda d: _site(d)["posts"][5]["fence"].update(radius=30),
        "sites[0].posts[5] (id 'jt-plaza').fence.radius: unknown field (misspelt?)",
    ),
    (
        "leader that does not exist",
        lambda d: _site(d)["guards"][0].update(leaders=["jt-leader-z"]),
        "sites[0].guards[0] (id 'g-001'): unknown leader 'jt-leader-z'",
    ),
    (
        "leader reporting to a leader that does not exist",
        lambda d: _site(d)["leaders"][0].update(reports_to="jt-boss"),
        "sites[0].leaders[0] (id 'jt-leader-a'): reports_to unknown leader 'jt-boss'",
    ),
    (
        "leader reporting to himself",
        lambda d: _site(d)["leaders"][0].update(reports_to="jt-leader-a"),
        "sites[0].leaders[0] (id 'jt-leader-a'): reports_to names the leader himself",
    ),
    (
        "leaders reporting to each other",
        lambda d: (
            _site(d)["leaders"][0].update(reports_to="jt-leader-b"),
            _site(d)["leaders"][1].update(reports_to="jt-leader-a"),
        ),
        "sites[0].leaders[1] (id 'jt-leader-b'): reports_to goes round in a circle back to him",
    ),
    (
        "negative escalation limit",
        lambda d: _site(d).update(policy={"escalate_after_s": -1}),
        "sites[0] (id 'wh-jiangtan-garden').policy.escalate_after_s: must be a number >= 0",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_site_file_is_refused_naming_the_place_and_stores_nothing(
    engine: Engine, tmp_path: Path, case: str, mutate: Mutation, message: str
) -> None:
    data = sample()
    mutate(data)
    with pytest.raises(ConfigError) as caught:
        load_site_file(write(tmp_path, data), engine, NOW)
    assert message in str(caught.value)
    assert set(counts(engine).values()) == {0}


def test_every_problem_is_listed_not_only_the_first(engine: Engine, tmp_path: Path) -> None:
    data = sample()
    _bow_tie(data)
    _site(data)["devices"][4]["guard"] = "g-099"
    _site(data)["posts"][0]["datum"] = "mars"
    with pytest.raises(ConfigError) as caught:
        load_site_file(write(tmp_path, data), engine, NOW)
    text = str(caught.value)
    # The shape is checked first: a misshapen file is not also checked for consistency.
    assert "1 problem in the site file" in text
    assert "sites[0].posts[0] (id 'jt-gate-north').datum" in text
    _site(data)["posts"][0]["datum"] = "gcj02"
    with pytest.raises(ConfigError) as caught:
        load_site_file(write(tmp_path, data), engine, NOW)
    text = str(caught.value)
    assert "2 problems in the site file" in text
    assert "self-intersects" in text
    assert "bound to unknown guard 'g-099'" in text


def test_a_refused_reload_keeps_the_previous_configuration(engine: Engine, tmp_path: Path) -> None:
    load_site_file(WUHAN_SITE, engine, NOW)
    before = counts(engine)
    data = sample()
    del _site(data)["posts"][1]  # jt-gate-east, still used by two shifts
    with pytest.raises(ConfigError, match="unknown post 'jt-gate-east'"):
        load_site_file(write(tmp_path, data), engine, NOW)
    assert counts(engine) == before


def test_reload_replaces_configuration_and_keeps_history(engine: Engine, tmp_path: Path) -> None:
    load_site_file(WUHAN_SITE, engine, NOW)
    at = NOW + timedelta(minutes=5)
    with Session(engine) as s, s.begin():
        running = shift_for_device(s, "gps-001", at)
        moved_shift = shift_for_device(s, "gps-002", at)
        assert running is not None and moved_shift is not None
        repo.save_presence_states(
            s,
            [
                {
                    "shift_id": ctx.shift_id,
                    "guard_id": ctx.guard_id,
                    "state": {"k": 1},
                    "next_deadline": None,
                    "updated_at": at,
                }
                for ctx in (running, moved_shift)
            ],
            stored=set(),
        )
        fix = PositionFix("gps-001", at, at, 30.6, 114.29, accuracy_m=8.0, raw="x")
        repo.insert_positions(s, [repo.position_values(fix, guard_id="g-001")])
        repo.open_or_update_alert(
            s, alert_key="k1", alert_type="alert.sos", guard_id="g-002", at=at, event_id="e1"
        )

    with Session(engine) as s:
        ended = set(s.scalars(select(ShiftRow.id).where(ShiftRow.ends_at <= NOW)))

    data = sample()
    site = _site(data)
    site["name"] = "Jiangtan Garden"
    site["guards"][1]["name"] = "王磊 (transferred)"
    site["shifts"][1]["post"] = "jt-plaza"  # g-002 moves to the plaza: new shift ids
    site["posts"] = [p for p in site["posts"] if p["id"] != "jt-control-room"]
    site["shifts"] = [s for s in site["shifts"] if s["post"] != "jt-control-room"]
    site["policy"] = {"verbal_report_limit_s": 600}
    load_site_file(write(tmp_path, data), engine, NOW)

    with Session(engine) as s:
        site_row = s.get(SiteRow, "wh-jiangtan-garden")
        assert site_row is not None and site_row.name == "Jiangtan Garden"
        assert s.get(PostRow, "jt-control-room") is None
        guard = s.get(GuardRow, "g-002")
        assert guard is not None and guard.name == "王磊 (transferred)"
        # Yesterday's 10 shifts ended before the reload: they are the ledger's record and
        # stay as they were, the control room's and g-002's at his old post included. The
        # file's other 72 (of 81: 9 are yesterday's) are written; its version of yesterday,
        # g-002 at the plaza, is not: a later file does not rewrite a recorded day.
        stored = set(s.scalars(select(ShiftRow.id)))
        kept = {i for i in stored if i in ended}
        assert kept == ended and len(ended) == 10
        assert any("/jt-control-room/" in i for i in kept)
        assert any(i.startswith("g-002/jt-gate-east/") for i in kept)
        assert "g-002/jt-plaza/20260301T000000Z" not in stored
        # g-002 was at the gate since 08:00: that shift is cut short at the reload (11:00) and
        # kept; at the plaza he is expected from 11:00, under the id of that start.
        cut = s.get(ShiftRow, moved_shift.shift_id)
        assert cut is not None and cut.cut_short and cut.ends_at == NOW
        assert len(stored - ended) == 72 + 1
        moved = shift_for_device(s, "gps-002", at)
        assert moved is not None and moved.post_id == "jt-plaza"
        assert moved.shift_id == "g-002/jt-plaza/20260302T030000Z"
        assert moved.policy.verbal_report_limit_s == 600
        # The unchanged shift keeps its id and its rule state; the cut one's state stays with
        # it as the record (no rule runs for a cut shift).
        assert repo.load_presence_state(s, running.shift_id) == {"k": 1}
        assert repo.load_presence_state(s, moved_shift.shift_id) == {"k": 1}
        assert s.scalar(select(func.count()).select_from(PresenceStateRow)) == 2
        # History is untouched.
        assert s.scalar(select(func.count()).select_from(PositionRow)) == 1
        assert s.scalar(select(func.count()).select_from(AlertRow)) == 1


def test_ids_of_another_site_are_refused(engine: Engine, tmp_path: Path) -> None:
    load_site_file(WUHAN_SITE, engine, NOW)
    other = {
        "sites": [
            {
                "id": "wh-optics-valley",
                "name": "光谷软件园",
                "posts": [
                    {
                        "id": "ov-gate",
                        "name": "gate",
                        "datum": "bd09",
                        "fence": {"type": "Circle", "center": [114.41, 30.48], "radius_m": 40},
                    }
                ],
                "guards": [{"id": "g-001", "name": "someone"}],
            }
        ]
    }
    with pytest.raises(ConfigError) as caught:
        load_site_file(write(tmp_path, other), engine, NOW)
    assert (
        "sites[0].guards[0] (id 'g-001'): guard id already belongs to site 'wh-jiangtan-garden'"
        in str(caught.value)
    )
    assert counts(engine)["sites"] == 1


def test_two_sites_in_one_file_load_together(engine: Engine, tmp_path: Path) -> None:
    data = sample()
    data["sites"].append(
        {
            "id": "wh-optics-valley",
            "name": "光谷软件园",
            "posts": [
                {
                    "id": "ov-gate",
                    "name": "gate",
                    "datum": "bd09",
                    "fence": {"type": "Circle", "center": [114.41, 30.48], "radius_m": 40},
                }
            ],
            "guards": [{"id": "ov-g1", "name": "someone"}],
            "shifts": [
                {
                    "guard": "ov-g1",
                    "post": "ov-gate",
                    "start": "2026-03-02T09:00",
                    "end": "2026-03-02T17:00",
                }
            ],
        }
    )
    summary = load_site_file(write(tmp_path, data), engine, NOW)
    assert summary.site_ids == ("wh-jiangtan-garden", "wh-optics-valley")
    assert summary.shifts == 91


def test_yaml_times_of_day_are_read_as_times_not_base_60_numbers(tmp_path: Path) -> None:
    text = WUHAN_SITE.read_text(encoding="utf-8").replace('"20:00"', "20:00")
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    [site] = validate_site_file(path, NOW)
    assert site.entry.shifts[5].start == "20:00"


def test_unreadable_yaml_is_refused_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("sites: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not a readable site file"):
        validate_site_file(path, NOW)


def test_a_file_without_sites_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, {"sites": []})
    with pytest.raises(ConfigError, match="sites: List should have at least 1 item"):
        validate_site_file(path, NOW)


def test_sample_round_trips_through_json(engine: Engine, tmp_path: Path) -> None:
    summary = load_site_file(write(tmp_path, copy.deepcopy(sample())), engine, NOW)
    assert summary.shifts == 90


def test_extend_shifts_keeps_the_roster_ahead_of_a_long_running_clock(engine: Engine) -> None:
    load_site_file(WUHAN_SITE, engine, NOW)
    later = NOW + timedelta(days=12)
    with Session(engine) as s, s.begin():
        assert active_shifts(s, later) == []
        # The nine local days around then (03-13..03-21) are all new: 10 roster lines x 9 days,
        # less the 10 of 03-13, which had all ended by 11:00 on 03-14 (the night team's at
        # 08:00): nobody watched them, and a past day is not written afterwards.
        assert extend_shifts(s, later) == 80
    with Session(engine) as s, s.begin():
        assert extend_shifts(s, later) == 0
        running = active_shifts(s, later)
        assert len(running) == 5
        # Under way when the gateway came back: as rostered (the guard's fixes since the
        # start count, the day's record shows the shift), graces from when it was known.
        assert all(row.starts_at < later and row.known_from == later for row in running)
        assert all(row.id == shift_id(row.guard_id, row.post_id, row.starts_at) for row in running)


def test_extend_shifts_skips_a_roster_occurrence_overlapping_a_concrete_shift(
    engine: Engine, tmp_path: Path
) -> None:
    data = sample()
    # Far beyond the week checked at load: the plaza day shift of g-005 on 2026-03-20 is replaced.
    _site(data)["shifts"].append(
        {
            "guard": "g-005",
            "post": "jt-control-room",
            "start": "2026-03-20T10:00",
            "end": "2026-03-20T12:00",
        }
    )
    load_site_file(write(tmp_path, data), engine, NOW)
    at = datetime(2026, 3, 20, 3, 0, tzinfo=UTC)  # 11:00 local
    with Session(engine) as s, s.begin():
        extend_shifts(s, at)
        ctx = shift_for_device(s, "gps-005", at)
        assert ctx is not None and ctx.post_id == "jt-control-room"
        assert len(active_shifts(s, at)) == 5


def test_an_owntracks_device_id_may_hold_one_slash_and_no_other_id_may(tmp_path: Path) -> None:
    doc = yaml.safe_load(WUHAN_SITE.read_text(encoding="utf-8"))
    doc["sites"][0]["devices"][1]["id"] = "wanglei/phone"
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    doc["sites"][0]["devices"][1]["id"] = "a/b/c"
    doc["sites"][0]["guards"][0]["id"] = "g/001"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")

    validate_site_file(good, NOW)
    with pytest.raises(ConfigError) as refused:
        validate_site_file(bad, NOW)
    assert "devices[1]" in str(refused.value)
    assert "guards[0]" in str(refused.value)


def test_a_guard_may_wear_two_gps_terminals_and_his_duty_lists_both(
    engine: Engine, tmp_path: Path
) -> None:
    data = sample()
    _site(data)["devices"].append({"id": "badge-001", "kind": "gps", "guard": "g-001"})
    load_site_file(write(tmp_path, data), engine, NOW)

    with Session(engine) as s:
        duties = load_duties(s, NOW)
        badge, phone = shift_for_device(s, "badge-001", NOW), shift_for_device(s, "gps-001", NOW)
        assert badge is not None and phone is not None and badge.shift_id == phone.shift_id
    duty = duties.duty_for_device("badge-001", NOW)
    assert duty is not None and duty.guard_id == "g-001"
    assert duty.device_ids == ("badge-001", "gps-001")


def test_ids_of_another_site_are_found_in_every_slice_of_a_large_file(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A city's file holds more ids than PostgreSQL takes in one statement: they are looked up
    in slices (here of two), and an id taken elsewhere is found whichever slice holds it."""
    monkeypatch.setattr("gateway.site.loader._IDS_PER_QUERY", 2)
    load_site_file(WUHAN_SITE, engine, NOW)
    guards = [{"id": g, "name": g} for g in ("a-1", "a-2", "a-3", "g-001", "g-002")]
    other = {"sites": [{"id": "wh-optics-valley", "name": "光谷软件园", "guards": guards}]}
    with pytest.raises(ConfigError) as caught:
        load_site_file(write(tmp_path, other), engine, NOW)
    message = str(caught.value)
    for index, guard in ((3, "g-001"), (4, "g-002")):
        assert (
            f"sites[0].guards[{index}] (id '{guard}'): guard id already belongs to site "
            "'wh-jiangtan-garden'"
        ) in message
    assert "a-1" not in message and "a-3" not in message
    assert counts(engine)["sites"] == 1
