"""End to end, a broker crash while the gateway is down: nothing lost, nothing twice.

The gateway's persistent session (MQTT 3.1.1, clean session off, QoS 1) is subscribed on the
private mosquitto; the gateway stops as a shutdown does; a terminal publishes N QoS-1 fixes,
each PUBACKed by the broker; the broker then dies by SIGKILL (no clean shutdown, so nothing is
saved beyond its last autosave) and comes back on the same port and persistence directory; the
gateway starts again and must store exactly the N fixes.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from drivers.mqtt.broker import RunningBroker
from gateway.db.models import PositionRow
from tests.e2e.hard_cases import RigFactory, at, rig_factory

__all__ = ["rig_factory"]  # the fixture, used by name

POST = "jt-gate-north"
DEVICE = "13800000001"
BEFORE = 5
"""Fixes the gateway takes in live before it stops."""
WHILE_DOWN = 200
"""Fixes published while it is down and the broker is killed."""


def payload(minutes: float, where: tuple[float, float]) -> bytes:
    lon, lat = where
    fix = {"time": at(minutes).isoformat(), "lat": lat, "lon": lon, "accuracy_m": 8.0}
    return json.dumps(fix).encode()


def test_queued_fixes_survive_a_sigkill_of_the_broker_exactly_once(
    rig_factory: RigFactory, mqtt_broker: RunningBroker
) -> None:
    if mqtt_broker.kind != "mosquitto":
        pytest.skip("a broker that persists sessions needs mosquitto (amqtt keeps none)")
    persistence = mqtt_broker.persistence_file  # type: ignore[attr-defined]
    rig = rig_factory([("g-001", POST, DEVICE)])
    inside = rig.anchors[POST]
    topic = f"devices/{DEVICE}/json"
    rig.clock.set(at(1))
    for i in range(BEFORE):
        rig.publish(topic, payload(i * 0.1, inside))
    rig.settle()
    rig.stop_gateway()

    # Every fix 3 s apart from 08:01, all inside the post; each acknowledged by the broker.
    for i in range(WHILE_DOWN):
        rig.publish(topic, payload(1 + i * 0.05, inside))
    acknowledged_ns = time.time_ns()
    # Wait for an autosave that began after the last PUBACK, then kill: the crash loses nothing
    # the broker acknowledged before that save.
    deadline = time.monotonic() + 10
    while not (persistence.exists() and persistence.stat().st_mtime_ns > acknowledged_ns):
        assert time.monotonic() < deadline, "the broker did not autosave within 10 s"
        time.sleep(0.05)
    mqtt_broker.kill()
    assert not mqtt_broker.running
    mqtt_broker.start()

    rig.clock.set(at(12))
    rig.start_gateway()

    ingest = rig.gateway.ingest
    assert ingest is not None
    assert ingest.stats.messages == WHILE_DOWN  # the broker kept each, and redelivered none
    counters = rig.counters()
    assert counters["fixes.received"] == WHILE_DOWN
    assert counters["fixes.stored"] == WHILE_DOWN
    assert not [k for k in counters if k.startswith(("rejected.", "dropped."))]
    with Session(rig.engine) as session:
        rows = session.scalar(select(func.count()).select_from(PositionRow))
        distinct = session.scalar(select(func.count(func.distinct(PositionRow.fix_time))))
        newest = session.scalar(select(func.max(PositionRow.fix_time)))
    assert (rows, distinct) == (BEFORE + WHILE_DOWN, BEFORE + WHILE_DOWN)
    assert newest == at(1) + timedelta(seconds=3 * (WHILE_DOWN - 1))
