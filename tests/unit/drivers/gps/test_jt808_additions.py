"""Battery level and vendor alarms from the additional items of real terminals' reports: each
rule of drivers/gps/jt808/additions.py against the frames where traccar asserts the value, and
the same ids at other lengths (where they mean something else) against frames that carry them."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.gps.jt808.additions import battery_pct, vendor_alarms
from drivers.gps.jt808.codec import Jt808Codec, decode_messages
from drivers.gps.jt808.location import LocationReport, parse_batch, parse_location
from gateway.records import Alarm, PositionFix
from tests.unit.drivers.gps.corpus_data import FRAMES, RECEIVED, load_json

TRACCAR: dict[str, dict[str, Any]] = load_json("jt808_traccar_frames.json")["frames"]
BATTERY_FRAMES = [
    name
    for name, frame in TRACCAR.items()
    if frame["traccar_asserts"].get("attribute") == "Position.KEY_BATTERY_LEVEL"
]


def _report(frame_hex: str) -> LocationReport:
    (message,), rejects = decode_messages(bytes.fromhex(frame_hex))
    assert rejects == []
    return parse_location(message.body)


def _fix(frame_hex: str) -> PositionFix:
    (fix,) = Jt808Codec().decode(bytes.fromhex(frame_hex), RECEIVED).fixes
    return fix


def test_corpus_covers_every_battery_rule() -> None:
    # 0x06, 0xD4, 0xE1, 0xE3, 0xE4 (twice), 0xFE, 0xEB/0x00E1, 0xEB/0x00A8; 0x56 is frame 37.
    assert len(BATTERY_FRAMES) == 9


@pytest.mark.parametrize("name", BATTERY_FRAMES)
def test_battery_level_is_the_one_traccar_asserts(name: str) -> None:
    frame = TRACCAR[name]
    report = _report(frame["frame_hex"])
    assert report.battery_pct == frame["traccar_asserts"]["value"]
    if report.located:
        assert _fix(frame["frame_hex"]).battery_pct == frame["traccar_asserts"]["value"]


def test_power_level_item_0x56_in_tenths_gives_90_as_traccar_asserts() -> None:
    frame = FRAMES[37]
    assert frame["expected"]["traccar_assert"]["attribute"] == "Position.KEY_BATTERY_LEVEL, 90"
    assert _report(frame["frame_hex"]).battery_pct == 90


def test_same_ids_at_other_lengths_are_not_a_battery_level() -> None:
    # go-jt808's all-items frame: 0x06 of length 2 is the 2019 carriage temperature.
    assert _report(FRAMES[10]["frame_hex"]).additions[0x06] == bytes.fromhex("0001")
    assert _report(FRAMES[10]["frame_hex"]).battery_pct is None
    # A Shanghai OBD terminal: 0xE1 of length 4 and 0xE3 holding the text "NatureLink".
    report = _report(FRAMES[30]["frame_hex"])
    assert (len(report.additions[0xE1]), report.additions[0xE3]) == (4, b"NatureLink")
    assert report.battery_pct is None
    # 0xE1 of length 12 (cell towers) after the 0xE4 level.
    report = _report(TRACCAR["e4-86"]["frame_hex"])
    assert len(report.additions[0xE1]) == 12
    assert battery_pct([(0xE1, report.additions[0xE1])]) is None


def test_eb_holding_cell_towers_instead_of_sub_items_gives_nothing() -> None:
    (message,), _ = decode_messages(bytes.fromhex(FRAMES[31]["frame_hex"]))
    item = parse_batch(message.body).items[0]
    assert isinstance(item, LocationReport)
    assert item.additions[0xEB][:2] == bytes.fromhex("01cc")  # MCC 460, China
    assert battery_pct([(0xEB, item.additions[0xEB])]) is None
    assert vendor_alarms([(0xEB, item.additions[0xEB])]) == frozenset()


def test_charging_marker_is_not_a_level() -> None:
    # Hand-made item (no capture carries it): 0xE1 = 0xFF means "charging", not 255 %.
    assert battery_pct([(0xE1, b"\xff")]) is None
    assert battery_pct([(0xE1, b"\xff"), (0xD4, b"\x32")]) == 50


@pytest.mark.parametrize(
    ("name", "alarms"),
    [
        ("tamper", {Alarm.TAMPER}),
        ("removing", {Alarm.REMOVED}),
        ("lowbat-removing", {Alarm.LOW_BATTERY, Alarm.REMOVED}),
        ("vibration", set()),
        ("sos-located", {Alarm.SOS}),
    ],
)
def test_alarms_of_real_reports_are_those_traccar_asserts(name: str, alarms: set[Alarm]) -> None:
    # "sos-located": traccar asserts a position; its alarm DWORD is 1, the standard's SOS bit.
    fix = _fix(TRACCAR[name]["frame_hex"])
    assert fix.alarms == frozenset(alarms)


def test_removal_status_of_a_fitted_terminal_raises_nothing() -> None:
    # Guangzhou 2018 batch: 0xEB/0x0089 = fffffffe, bit 12 set (fitted); the 4th item's own
    # alarm bit 8 (main power off) is the only alarm.
    outcome = Jt808Codec().decode(bytes.fromhex(FRAMES[32]["frame_hex"]), RECEIVED)
    assert [f.alarms for f in outcome.fixes] == [frozenset()] * 3 + [frozenset({Alarm.POWER_CUT})]
