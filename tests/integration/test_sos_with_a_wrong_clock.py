"""An SOS from a terminal whose clock is wrong reaches the leaders as his, dated by its arrival
(``gateway.pipeline.alarm_stage``; ``drivers.gps.json_codec``), through ``Processor`` as
``guard-gateway run`` drives it, on SQLite and PostgreSQL.

g-001 keeps the north gate of the sample site 08:00-20:00, his terminal ``gps-001`` on post
every 30 s. At 08:30:30 he presses SOS on a terminal that has just rebooted. Before: dated by a
reset clock (2000-01-01, or 19.6 years back after a GPS week rollover), the alert said he was
off duty, named no shift and sorted under 26 years of alerts; a gateway-JSON terminal whose
clock was never set sends time 0, and that SOS was refused (``SOS not raised``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from drivers.gps.json_codec import GatewayJsonCodec
from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from gateway.records import Alarm, DecodeOutcome
from tests.e2e.helpers import DAY_START, fix_at, load_sample_site, outbox_rows, post_points

PRESSED = DAY_START + timedelta(minutes=30, seconds=30)


def _on_post_to_half_past(engine: Engine) -> tuple[Processor, ManualClock, tuple[float, float]]:
    load_sample_site(engine)
    clock = ManualClock(DAY_START)
    inside = post_points(engine, "jt-gate-north").inside
    processor = Processor(engine, clock)
    t = DAY_START + timedelta(minutes=1)
    while t < DAY_START + timedelta(minutes=30):
        clock.set(t + timedelta(seconds=1))
        processor.process_fixes([fix_at("gps-001", t, inside)])
        t += timedelta(seconds=30)
    clock.set(PRESSED)
    return processor, clock, inside


def _sos(engine: Engine) -> dict[str, Any]:
    [alert] = [json.loads(r.body) for r in outbox_rows(engine) if r.type == "alert.sos"]
    return alert


@pytest.mark.parametrize(
    "clock_said",
    [
        datetime(2000, 1, 1, tzinfo=UTC),
        PRESSED - timedelta(weeks=1024),
        PRESSED + timedelta(hours=3),
    ],
    ids=["reset to 2000", "GPS week rollover", "three hours ahead"],
)
def test_an_sos_dated_by_a_wrong_clock_is_his_on_duty_and_dated_by_its_arrival(
    engine: Engine, clock_said: datetime
) -> None:
    processor, _, inside = _on_post_to_half_past(engine)
    sos = fix_at("gps-001", clock_said, inside, alarms=frozenset({Alarm.SOS}))
    processor.process_fixes([replace(sos, received_at=PRESSED)])
    alert = _sos(engine)
    assert (alert["data"]["on_duty"], alert["data"]["guard_id"]) == (True, "g-001")
    assert alert["data"]["shift_id"] is not None
    assert datetime.fromisoformat(alert["time"]) == PRESSED
    assert processor.counters.snapshot()["alarms.clock_implausible"] == 1


def test_an_sos_of_a_terminal_whose_clock_was_never_set_is_raised(engine: Engine) -> None:
    processor, _, _ = _on_post_to_half_past(engine)
    payload = b'{"time": 0, "alarms": ["sos"], "battery_pct": 40}'
    outcome = GatewayJsonCodec().decode(payload, PRESSED, "gps-001")
    assert outcome.rejects == ()
    processor.process_outcomes([DecodeOutcome(alarms=outcome.alarms)])
    alert = _sos(engine)
    assert (alert["data"]["on_duty"], alert["data"]["guard_id"]) == (True, "g-001")
    assert datetime.fromisoformat(alert["time"]) == PRESSED
