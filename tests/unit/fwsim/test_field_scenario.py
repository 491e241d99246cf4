"""Field scenario files: the shipped ones load, every mistake in a file is reported at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fwsim.scenario import ScenarioError
from fwsim.scenario.field import (
    PUNCH_STATES,
    VERIFY_CODES,
    load_field_scenario,
    parse_field_scenario,
)
from fwsim.scenario.loader import NOT_A_SITE_DAY

SCENARIOS = Path(__file__).resolve().parents[3] / "firmware-sim" / "scenarios"


def scenario(timeline: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "field_devices": {
            "readers": [
                {"id": "em-1", "kind": "em4100", "variant": "decimal"},
                {
                    "id": "nfc-1",
                    "kind": "pn532",
                    "tags": {
                        "sticker": {"type": "ntag213", "uid": "04:A2:24:1A:6B:1C:80", "uri": "x"},
                        "card": {"type": "mifare_classic", "uid": "5C9A3E21"},
                    },
                },
            ],
            "terminals": [
                {"id": "zk-push", "kind": "zkteco_push", "sn": "ZK1"},
                {"id": "zk-bin", "kind": "zkteco_binary"},
            ],
            "timeline": timeline,
        },
        **extra,
    }


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        parse_field_scenario(data, "t.yaml")
    return caught.value.problems


def test_patrol_skip_checkpoint_file_scans_east_and_west_and_never_the_fountain() -> None:
    loaded = load_field_scenario(SCENARIOS / "patrol-skip-checkpoint.yaml")
    assert loaded.name == "patrol-skip-checkpoint" and loaded.gps is None
    assert [r.id for r in loaded.readers] == ["em-cp-east", "em-cp-fountain", "em-cp-west"]
    scans = [(a.at_s, a.device, a.tag) for a in loaded.timeline if a.kind == "scan"]
    assert scans == [
        (390.0, "em-cp-east", "0100A1B2C3"),
        (690.0, "em-cp-west", "0100A1B2C5"),
        (780.0, "em-cp-west", "01DEADBEEF"),
    ]


def test_a_file_that_names_no_site_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "field-only.yaml"
    path.write_text(
        yaml.safe_dump(scenario([{"at_s": 5, "scan": {"reader": "em-1", "tag": "0100000001"}}]))
    )
    with pytest.raises(ScenarioError) as caught:
        load_field_scenario(path)
    assert caught.value.problems == [NOT_A_SITE_DAY]


def test_clock_in_late_file_checks_in_after_the_fifteen_minute_grace() -> None:
    loaded = load_field_scenario(SCENARIOS / "clock-in-late.yaml")
    punches = [(a.at_s, a.pin, a.punch, a.verify) for a in loaded.timeline]
    assert punches[0] == (19 * 60.0, "1002", PUNCH_STATES["check_in"], 1)
    assert [p[2] for p in punches] == [0, 0, 2, 3]  # check-in x2, break-out, break-in
    assert punches[1][3] == VERIFY_CODES["card"] == 4


def test_actions_are_sorted_by_time_keeping_the_file_order_at_one_instant() -> None:
    loaded = parse_field_scenario(
        scenario(
            [
                {"at_min": 2, "scan": {"reader": "em-1", "tag": "0100000001"}},
                {"at_s": 60, "noise": {"reader": "em-1"}},
                {"at_s": 60, "partial_frame": {"reader": "em-1"}},
                {"at_s": 0, "punch": {"terminal": "zk-bin", "pin": 7, "kind": 4, "verify": 15}},
            ]
        )
    )
    assert [(a.at_s, a.kind) for a in loaded.timeline] == [
        (0.0, "punch"),
        (60.0, "noise"),
        (60.0, "partial_frame"),
        (120.0, "scan"),
    ]
    punch = loaded.timeline[0]
    assert (punch.pin, punch.punch, punch.verify, punch.push) == ("7", 4, 15, True)


def test_nfc_tags_are_built_as_the_simulator_tags_they_name() -> None:
    loaded = parse_field_scenario(
        scenario([{"at_s": 1, "present_nfc": {"reader": "nfc-1", "tag": "card", "seconds": 0.5}}])
    )
    reader = loaded.readers[1]
    assert reader.tags["sticker"].uid == bytes.fromhex("04A2241A6B1C80")
    assert reader.tags["sticker"].build().uid == bytes.fromhex("04A2241A6B1C80")
    assert reader.tags["card"].build().sak == 0x08  # Mifare Classic 1K
    assert loaded.timeline[0].seconds == 0.5


def test_a_field_scenario_may_carry_gps_terminals_as_the_gps_loader_reads_them() -> None:
    gps = {
        "terminals": [
            {
                "device_id": "13800000001",
                "format": "json",
                "anchor": {"lat": 30.5928, "lon": 114.3055},
                "timeline": [{"stay": {"duration_s": 300}}],
            }
        ]
    }
    data = scenario([{"at_s": 5, "scan": {"reader": "em-1", "tag": "0100000001"}}], **gps)
    loaded = parse_field_scenario(data)
    assert loaded.gps is not None
    assert [t.device_id for t in loaded.gps.terminals] == ["13800000001"]


def test_every_mistake_is_reported_with_its_place() -> None:
    found = problems(
        scenario(
            [
                {"at_s": 1, "scan": {"reader": "em-9", "tag": "0100000001"}},
                {"at_s": 2, "scan": {"reader": "em-1", "tag": "XYZ"}},
                {"at_s": 3, "present_nfc": {"reader": "em-1", "tag": "sticker"}},
                {"at_s": 4, "present_nfc": {"reader": "nfc-1", "tag": "nope"}},
                {"at_s": 5, "punch": {"terminal": "zk-9", "pin": "1", "kind": "lunch"}},
                {"at_s": 6, "wave": {"reader": "em-1"}},
                {"scan": {"reader": "em-1", "tag": "0100000001"}},
                {"at_s": 8, "scan": {"reader": "em-1", "tag": "0100000001", "repeats": 0}},
            ]
        )
    )
    expected = [
        "timeline[0] (scan): no reader 'em-9'",
        "timeline[1] (scan): an EM4100 tag is 10 hex digits",
        "timeline[2] (present_nfc): present_nfc does not apply to a em4100 reader",
        "timeline[3] (present_nfc): no tag 'nope'",
        "timeline[4] (punch): no terminal 'zk-9'",
        "timeline[4] (punch) 'kind': expected one of check_in",
        "timeline[5]: unknown key 'wave'",
        "timeline[6]: give exactly one of at_s / at_min",
        "timeline[7] (scan): 'repeats' must be a whole number >= 1",
    ]
    for text in expected:
        assert any(text in problem for problem in found), (text, found)


def test_devices_are_checked_before_the_timeline_refers_to_them() -> None:
    data = scenario([{"at_s": 1, "noise": {"reader": "em-1"}}])
    section = data["field_devices"]
    section["timezone"] = "Mars/Olympus"
    section["readers"].append({"id": "em-1", "kind": "em4100", "variant": "morse"})
    section["terminals"].append({"id": "zk-3", "kind": "zkteco_push"})
    found = problems(data)
    assert any("unknown 'timezone' 'Mars/Olympus'" in p for p in found)
    assert any("readers[2]: 'variant' must be one of rdm6300" in p for p in found)
    assert any("terminals[2]: 'sn' must be a non-empty text" in p for p in found)
    assert any("device id 'em-1' is used twice" in p for p in found)


def test_a_file_without_field_devices_is_refused() -> None:
    assert problems({"name": "x"}) == [
        "field_devices: must be a mapping with readers, terminals and timeline"
    ]
