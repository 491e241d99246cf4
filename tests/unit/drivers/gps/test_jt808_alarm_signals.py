"""An SOS is never lost for want of a fix: JT/T 808 reports (raw frames and EMQX JSON) whose
"located" bit is clear but which raise an alarm become ``AlarmSignal``s, not rejects.

No capture in the corpus has an SOS without a fix, so the frames come from firmware-sim's
terminal (written from the standard, checked byte for byte against the corpus in
tests/unit/fwsim/test_jt808_encoder.py), never from the codec under test."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from drivers.gps.jt808.codec import Jt808Codec
from drivers.gps.jt808.emqx import EmqxJt808Codec
from fwsim.gps import jt808 as sim
from gateway.records import Alarm, AlarmSignal
from tests.unit.drivers.gps.corpus_data import RECEIVED

PHONE = "13912345678"
TAKEN = datetime(2026, 3, 1, 7, 59, 30, tzinfo=UTC)


def _body(*, alarm: int, status: int, lat_e6: int = 0, lon_e6: int = 0) -> sim.LocationBody:
    return sim.LocationBody(
        alarm=alarm,
        status=status,
        lat_e6=lat_e6,
        lon_e6=lon_e6,
        altitude_m=0,
        speed_0_1kmh=0,
        direction_deg=0,
        time=TAKEN,
        items=((0xE4, bytes([0, 37])),),  # vendor battery item: 37 %
    )


def _frame(msg_id: int, body: bytes) -> bytes:
    return sim.build_frame(msg_id, sim.bcd_phone(PHONE), 7, body)


def test_sos_indoors_without_fix_is_an_alarm_signal_not_a_reject() -> None:
    frame = _frame(sim.MSG_LOCATION, sim.location_body(_body(alarm=sim.ALARM_SOS, status=0)))
    outcome = Jt808Codec().decode(frame, RECEIVED)
    assert (outcome.fixes, outcome.rejects) == ((), ())
    assert outcome.alarms == (
        AlarmSignal(
            device_id=PHONE,
            alarm_time=TAKEN,
            received_at=RECEIVED,
            alarms=frozenset({Alarm.SOS}),
            lat=None,
            lon=None,
            battery_pct=37,
            source_format="jt808",
            raw=frame.hex(),
        ),
    )


def test_sos_keeps_the_last_position_the_terminal_wrote_but_not_as_a_fix() -> None:
    body = _body(alarm=sim.ALARM_SOS, status=0, lat_e6=30_592_800, lon_e6=114_305_500)
    outcome = Jt808Codec().decode(_frame(sim.MSG_LOCATION, sim.location_body(body)), RECEIVED)
    (signal,) = outcome.alarms
    assert (signal.lat, signal.lon) == (30.5928, 114.3055)
    assert outcome.fixes == ()


def test_sos_with_a_fix_stays_a_fix_carrying_the_alarm() -> None:
    body = _body(
        alarm=sim.ALARM_SOS, status=sim.STATUS_LOCATED, lat_e6=30_592_800, lon_e6=114_305_500
    )
    outcome = Jt808Codec().decode(_frame(sim.MSG_LOCATION, sim.location_body(body)), RECEIVED)
    (fix,) = outcome.fixes
    assert (fix.alarms, fix.battery_pct, fix.lat) == (frozenset({Alarm.SOS}), 37, 30.5928)
    assert outcome.alarms == ()


def test_sos_in_a_blind_area_batch_is_kept_beside_the_fixes() -> None:
    located = _body(alarm=0, status=sim.STATUS_LOCATED, lat_e6=30_592_800, lon_e6=114_305_500)
    indoors = _body(alarm=sim.ALARM_SOS, status=0)
    batch = sim.batch_body([located, indoors], sim.BATCH_BLIND_AREA)
    outcome = Jt808Codec().decode(_frame(sim.MSG_BATCH_LOCATION, batch), RECEIVED)
    assert len(outcome.fixes) == 1
    assert [a.alarms for a in outcome.alarms] == [frozenset({Alarm.SOS})]


def test_report_without_fix_and_without_alarm_is_still_rejected() -> None:
    frame = _frame(sim.MSG_LOCATION, sim.location_body(_body(alarm=0, status=0)))
    outcome = Jt808Codec().decode(frame, RECEIVED)
    assert [r.reason for r in outcome.rejects] == ["not located (status bit 1 clear)"]
    assert outcome.alarms == ()


def test_sos_with_an_unreadable_clock_is_dated_by_its_arrival() -> None:
    # Hand-made error path: the BCD time 99-13-99 cannot be a date.
    good = sim.location_body(_body(alarm=sim.ALARM_SOS, status=0))
    body = good[:22] + bytes.fromhex("991399000000") + good[28:]
    (signal,) = Jt808Codec().decode(_frame(sim.MSG_LOCATION, body), RECEIVED).alarms
    assert signal.alarm_time == RECEIVED


def _emqx(body: dict[str, object]) -> bytes:
    doc = {"header": {"msg_id": 512, "encrypt": 0, "phone": PHONE, "msg_sn": 1}, "body": body}
    return json.dumps(doc).encode()


def _emqx_location(alarm: int, status: int) -> dict[str, object]:
    local = TAKEN + timedelta(hours=8)
    return {
        "alarm": alarm,
        "status": status,
        "latitude": 0,
        "longitude": 0,
        "altitude": 0,
        "speed": 0,
        "direction": 0,
        "time": local.strftime("%y%m%d%H%M%S"),
        # EMQX's documented form of unnamed items: 0xE4 (228) under "custome", base64.
        "extra": {"rssi": 20, "custome": {"228": "ACU="}},
    }


def test_emqx_sos_without_fix_is_an_alarm_signal() -> None:
    payload = _emqx(_emqx_location(alarm=1, status=0))
    outcome = EmqxJt808Codec().decode(payload, RECEIVED, PHONE)
    assert (outcome.fixes, outcome.rejects) == ((), ())
    (signal,) = outcome.alarms
    assert signal.alarms == frozenset({Alarm.SOS})
    assert (signal.alarm_time, signal.battery_pct, signal.lat) == (TAKEN, 37, None)
    assert (signal.source_format, signal.raw) == ("jt808-emqx", payload.decode())


def test_emqx_batch_keeps_an_sos_without_fix_and_rejects_a_plain_one() -> None:
    doc = {
        "header": {"msg_id": 1796, "phone": PHONE},
        "body": {
            "type": 1,
            "length": 2,
            "location": [_emqx_location(alarm=1, status=0), _emqx_location(alarm=0, status=0)],
        },
    }
    outcome = EmqxJt808Codec().decode(json.dumps(doc).encode(), RECEIVED)
    assert [a.alarms for a in outcome.alarms] == [frozenset({Alarm.SOS})]
    assert [r.reason for r in outcome.rejects] == ["not located (status bit 1 clear)"]
