"""The gateway JSON schema: single positions, batches of stored positions, and clear reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from drivers.gps.json_codec import GatewayJsonCodec
from gateway.records import Alarm, DecodeOutcome

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
        ({"time": 1772324130, "lat": 1, "lon": 2, "device_id": "T-9"}, "differs from the topic"),
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


def test_device_id_in_payload_serves_when_the_topic_gives_none() -> None:
    (fix,) = decode({"time": 1772324130, "lat": 1, "lon": 2, "device_id": "T-9"}, None).fixes
    assert fix.device_id == "T-9"
    (rejected,) = decode({"time": 1772324130, "lat": 1, "lon": 2}, None).rejects
    assert rejected.reason.startswith("no device id")
