"""The gateway JSON schema: single positions, batches of stored positions, and clear reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from drivers.gps.json_codec import GatewayJsonCodec
from gateway.records import Alarm, AlarmSignal, DecodeOutcome

RECEIVED = datetime(2026, 3, 1, 0, 20, tzinfo=UTC)


def decode(doc: object, hint: str | None = "T-0042") -> DecodeOutcome:
    return GatewayJsonCodec().decode(json.dumps(doc).encode(), RECEIVED, hint)


def test_full_position_with_zone_is_read_in_utc_with_every_field() -> None:
    text = (
        '{"time": "2026-03-01T08:15:30+08:00", "lat": 30.5928, "lon": 114.3055, "accuracy_m": 8.5,'
        ' "speed_mps": 1.2, "course_deg": 270, "altitude_m": 23, "satellites": 9,'
        ' "battery_pct": 76, "alarms": ["sos"]}'
    )
    (fix,) = GatewayJsonCodec().decode(text.encode(), RECEIVED, "T-0042").fixes
    assert fix.fix_time == datetime(2026, 3, 1, 0, 15, 30, tzinfo=UTC)
    assert (fix.lat, fix.lon, fix.accuracy_m, fix.speed_mps) == (30.5928, 114.3055, 8.5, 1.2)
    assert (fix.course_deg, fix.altitude_m, fix.satellites, fix.battery_pct) == (270, 23, 9, 76)
    assert fix.alarms == frozenset({Alarm.SOS})
    assert fix.device_id == "T-0042"
    assert fix.raw == text
    assert fix.received_at == RECEIVED
    assert fix.source_format == "json"


def test_epoch_seconds_and_z_suffix_are_both_utc() -> None:
    epoch = decode({"time": 1772324130, "lat": 30.5, "lon": 114.3})
    iso = decode({"time": "2026-03-01T00:15:30Z", "lat": 30.5, "lon": 114.3})
    assert epoch.fixes[0].fix_time == iso.fixes[0].fix_time


def test_batch_object_keeps_good_items_and_rejects_each_bad_one() -> None:
    outcome = decode(
        {
            "device_id": "T-0042",
            "fixes": [
                {"time": "2026-03-01T00:01:00Z", "lat": 30.5, "lon": 114.3},
                {"time": "2026-03-01T00:02:00Z", "lat": 130.5, "lon": 114.3},
                {"time": "2026-03-01T00:03:00Z", "lon": 114.3},
                {"time": "2026-03-01T00:04:00Z", "lat": 30.6, "lon": 114.4},
            ],
        }
    )
    assert [f.fix_time.minute for f in outcome.fixes] == [1, 4]
    reasons = [r.reason for r in outcome.rejects]
    assert reasons == ["latitude 130.5 out of range [-90, 90]", "missing field 'lat'"]
    assert json.loads(outcome.rejects[1].raw) == {"time": "2026-03-01T00:03:00Z", "lon": 114.3}


def test_json_array_is_a_batch() -> None:
    outcome = decode([{"time": 1772324130, "lat": 30.5, "lon": 114.3}] * 3)
    assert len(outcome.fixes) == 3


@pytest.mark.parametrize(
    "doc,reason",
    [
        ({"lat": 1, "lon": 2}, "missing field 'time'"),
        ({"time": "2026-03-01T00:00:00", "lat": 1, "lon": 2}, "has no zone"),
        ({"time": 1772324130000, "lat": 1, "lon": 2}, "milliseconds?"),
        ({"time": 1772324130, "lat": "30.5", "lon": 2}, "lat must be a number, not str"),
        ({"time": 1772324130, "lat": True, "lon": 2}, "lat must be a number, not bool"),
        ({"time": 1772324130, "lat": 30, "lon": 200}, "longitude 200.0 out of range"),
        ({"time": 1772324130, "lat": 0, "lon": 0}, "exactly 0,0"),
        ({"time": 1772324130, "lat": 1, "lon": 2, "alarms": ["fire"]}, "unknown alarm 'fire'"),
        ({"time": 1772324130, "lat": 1, "lon": 2, "satellites": 2.5}, "satellites must be"),
        ({"time": 1772324130, "lat": 1, "lon": 2, "battery_pct": 120}, "battery_pct 120"),
        ({"time": 1772324130, "lat": 1, "lon": 2, "device_id": "T-9"}, "device id mismatch"),
        ("just a string", "must be a JSON object"),
    ],
)
def test_bad_positions_are_rejected_with_a_clear_reason(doc: object, reason: str) -> None:
    outcome = decode(doc)
    assert outcome.fixes == ()
    (rejected,) = outcome.rejects
    assert reason in rejected.reason


def test_not_json_is_rejected_with_the_bytes() -> None:
    (rejected,) = GatewayJsonCodec().decode(b"\x7e\x02\x00", RECEIVED, "T-1").rejects
    assert rejected.reason.startswith("not JSON")
    assert rejected.raw == b"\x7e\x02\x00"


@pytest.mark.parametrize("ending", [b"\x00", b"\r\n", b"\n\x00\x00", b" \t"])
def test_a_document_followed_by_nuls_or_whitespace_is_the_document(ending: bytes) -> None:
    text = '{"time":1772324130,"lat":30.5,"lon":114.3}'
    outcome = GatewayJsonCodec().decode(text.encode() + ending, RECEIVED, "T-1")
    assert (outcome.rejects, [f.raw for f in outcome.fixes]) == ((), [text])


def test_a_nul_inside_the_document_or_text_after_it_is_not_json() -> None:
    for payload in (b'{"time":1772324130,\x00"lat":30.5,"lon":114.3}', b'{"lat":1}\x00x'):
        (rejected,) = GatewayJsonCodec().decode(payload, RECEIVED, "T-1").rejects
        assert rejected.reason.startswith("not JSON")
        assert rejected.raw == payload


def test_device_id_in_payload_serves_when_the_topic_gives_none() -> None:
    (fix,) = decode({"time": 1772324130, "lat": 1, "lon": 2, "device_id": "T-9"}, None).fixes
    assert fix.device_id == "T-9"
    (rejected,) = decode({"time": 1772324130, "lat": 1, "lon": 2}, None).rejects
    assert rejected.reason.startswith("no device id")


# --- SOS without a usable position ------------------------------------------------------------

SOS_TIME = "2026-03-01T08:15:30+08:00"


def test_sos_from_a_terminal_indoors_without_coordinates_is_an_alarm_signal() -> None:
    text = f'{{"time": "{SOS_TIME}", "alarms": ["sos"], "battery_pct": 41}}'
    outcome = GatewayJsonCodec().decode(text.encode(), RECEIVED, "T-0042")
    assert (outcome.fixes, outcome.rejects) == ((), ())
    (signal,) = outcome.alarms
    assert signal == AlarmSignal(
        device_id="T-0042",
        alarm_time=datetime(2026, 3, 1, 0, 15, 30, tzinfo=UTC),
        received_at=RECEIVED,
        alarms=frozenset({Alarm.SOS}),
        lat=None,
        lon=None,
        battery_pct=41,
        source_format="json",
        raw=text,
    )


@pytest.mark.parametrize(
    "position",
    [{"lat": None, "lon": None}, {"lat": 0, "lon": 0}, {"lat": 0.0, "lon": 0.0}, {"lat": 30.5}],
)
def test_sos_with_null_or_placeholder_coordinates_is_an_alarm_signal_not_a_reject(
    position: dict[str, object],
) -> None:
    outcome = decode({"time": SOS_TIME, "alarms": ["sos", "low_battery"], **position})
    assert (outcome.fixes, outcome.rejects) == ((), ())
    (signal,) = outcome.alarms
    assert signal.alarms == frozenset({Alarm.SOS, Alarm.LOW_BATTERY})
    assert (signal.lat, signal.lon) == (None, None)


def test_other_alarms_without_coordinates_stay_rejects() -> None:
    outcome = decode({"time": SOS_TIME, "alarms": ["low_battery", "power_cut"]})
    assert outcome.alarms == ()
    assert [r.reason for r in outcome.rejects] == ["missing field 'lat'"]


def test_sos_refused_as_a_position_for_another_reason_gives_the_reject_and_the_signal() -> None:
    out_of_range = decode({"time": SOS_TIME, "lat": 130.5, "lon": 114.3, "alarms": ["sos"]})
    assert [r.reason for r in out_of_range.rejects] == ["latitude 130.5 out of range [-90, 90]"]
    (signal,) = out_of_range.alarms
    assert (signal.lat, signal.lon) == (None, None)
    bad_course = decode(
        {"time": SOS_TIME, "lat": 30.5, "lon": 114.3, "course_deg": 400, "alarms": ["sos"]}
    )
    assert [r.reason for r in bad_course.rejects] == ["course_deg 400 out of range [0.0, 360.0]"]
    (signal,) = bad_course.alarms
    assert (signal.lat, signal.lon) == (30.5, 114.3)  # what the terminal put in the message


def test_sos_is_read_leniently_beside_an_unknown_alarm_or_a_bad_battery() -> None:
    outcome = decode({"time": SOS_TIME, "alarms": ["SOS ", "fall"], "battery_pct": 150})
    assert outcome.rejects == ()
    (signal,) = outcome.alarms
    assert signal.alarms == frozenset({Alarm.SOS})
    assert signal.battery_pct is None


def test_sos_of_no_terminal_is_rejected_as_sos_not_raised() -> None:
    outcome = decode({"time": SOS_TIME, "alarms": ["sos"]}, None)
    assert (outcome.fixes, outcome.alarms) == ((), ())
    (rejected,) = outcome.rejects
    # One counter (``rejected.sos_not_raised``) for every SOS lost, whatever the cause.
    assert rejected.reason.startswith("SOS not raised: ")
    assert "no device id" in rejected.reason


@pytest.mark.parametrize(
    "time",
    [None, "08:15", 0, 1_772_324_130_000],
    ids=["missing", "unreadable", "a clock never set", "milliseconds"],
)
def test_sos_whose_time_is_missing_unreadable_or_impossible_is_dated_by_its_arrival(
    time: object,
) -> None:
    # Before, each of these lost the SOS (``SOS not raised: ...``): a terminal just rebooted
    # sends time 0 until its clock is set, and the guard pressing SOS then got no alert.
    doc: dict[str, object] = {"alarms": ["sos"], "lat": 30.5928, "lon": 114.3055}
    if time is not None:
        doc["time"] = time
    outcome = decode(doc)
    assert outcome.fixes == ()
    # The position is refused for its time, and counted; the SOS is kept beside it.
    assert [r.reason.startswith("SOS not raised") for r in outcome.rejects] == [False]
    (signal,) = outcome.alarms
    assert (signal.alarm_time, signal.received_at) == (RECEIVED, RECEIVED)
    assert signal.alarms == frozenset({Alarm.SOS})


def test_batch_keeps_an_sos_without_coordinates_beside_the_fixes() -> None:
    outcome = decode(
        {
            "fixes": [
                {"time": "2026-03-01T00:01:00Z", "lat": 30.5, "lon": 114.3},
                {"time": "2026-03-01T00:02:00Z", "alarms": ["sos"]},
                {"time": "2026-03-01T00:03:00Z", "alarms": ["low_battery"]},
            ]
        }
    )
    assert [f.fix_time.minute for f in outcome.fixes] == [1]
    assert [a.alarm_time.minute for a in outcome.alarms] == [2]
    assert [r.reason for r in outcome.rejects] == ["missing field 'lat'"]
