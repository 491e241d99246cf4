"""The EMQX JT/T 808 bridge producer, judged by the gateway's own decoder of that format.

The producer is written from EMQX's data-exchange page, the codec separately; they must agree
on every field a fix carries, live (0x0200) and in a blind-area batch (0x0704 type 1).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from drivers.gps.jt808.emqx import EmqxJt808Codec
from drivers.gps.topics import route_topic
from fwsim.gps.encoders import EncoderOptions, make_encoder
from fwsim.gps.fix import SimFix
from gateway.records import PositionFix

T0 = datetime(2026, 3, 2, 0, 5, 7, tzinfo=UTC)


def _fix(i: int = 0, *, sos: bool = False, located: bool = True) -> SimFix:
    return SimFix(
        device_id="13800000003",
        time=T0 + timedelta(seconds=30 * i),
        lat=30.5905 + i * 1e-4,
        lon=114.3130,
        accuracy_m=8.0,
        speed_mps=1.4,
        course_deg=181.0,
        altitude_m=25.0,
        satellites=9,
        battery_pct=90.0,
        sos=sos,
        odometer_m=1234.0,
        located=located,
    )


def test_a_live_fix_goes_up_as_0x0200_json_on_the_bridge_topic_and_decodes_back() -> None:
    encoder = make_encoder("jt808-emqx", "13800000003", EncoderOptions())
    (message,) = encoder.fix(_fix())
    assert message.topic == "jt808/013800000003/013800000003/up"
    route = route_topic(message.topic)
    assert route is not None and route.format_name == "jt808-emqx"
    doc = json.loads(message.payload)
    assert doc["header"] == {"msg_id": 512, "encrypt": 0, "phone": "013800000003", "msg_sn": 0}
    assert doc["body"]["time"] == "260302080507"  # BCD digits in GMT+8
    assert doc["body"]["extra"] == {"mileage": 12, "rssi": 25, "gnss_sat_num": 9}
    outcome = EmqxJt808Codec().decode(message.payload, T0, route.device_hint)
    assert outcome.rejects == () and outcome.alarms == ()
    (fix,) = outcome.fixes
    assert isinstance(fix, PositionFix)
    assert fix.device_id == "13800000003" and fix.fix_time == T0
    assert (fix.lat, fix.lon) == (30.5905, 114.313)
    assert fix.speed_mps == pytest.approx(1.4, abs=0.03)


def test_a_blind_area_batch_is_one_0x0704_whose_items_decode_in_order() -> None:
    encoder = make_encoder("jt808-emqx", "13800000003", EncoderOptions())
    encoder.fix(_fix())
    (message,) = encoder.batch([_fix(i) for i in range(1, 6)])
    doc = json.loads(message.payload)
    assert doc["header"]["msg_id"] == 0x0704 and doc["header"]["msg_sn"] == 1
    assert (doc["body"]["type"], doc["body"]["length"]) == (1, 5)
    assert message.kind == "batch" and message.fixes == 5
    outcome = EmqxJt808Codec().decode(message.payload, T0, "013800000003")
    assert [f.fix_time for f in outcome.fixes] == [
        T0 + timedelta(seconds=30 * i) for i in range(1, 6)
    ]


def test_sos_without_a_fix_is_an_alarm_the_gateway_reads_as_such() -> None:
    encoder = make_encoder("jt808-emqx", "13800000003", EncoderOptions())
    (message,) = encoder.fix(_fix(sos=True, located=False))
    assert message.kind == "alarm" and message.fixes == 0
    outcome = EmqxJt808Codec().decode(message.payload, T0, "013800000003")
    assert outcome.fixes == () and len(outcome.alarms) == 1
