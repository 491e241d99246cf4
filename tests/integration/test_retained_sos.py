"""A retained SOS is told from a new one by its payload, never by the retain flag alone
(``gateway.rules.alarms``), through the MQTT decoder and ``Processor`` as ``guard-gateway run``
wires them, on SQLite and PostgreSQL.

A broker sets the retain flag on a retained message it hands over at a new subscription, but
amqtt sets it on a persistent session's queued messages too: a new SOS queued while the gateway
was away must be raised, whatever the flag says. g-001 keeps the north gate of the sample site,
his terminal ``gps-001`` on post every 30 s.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import Engine

from drivers.gps.mqtt_decoder import GpsMessageDecoder
from drivers.mqtt.ingest_types import MqttMessage
from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import DAY_START, fix_at, load_sample_site, outbox_rows, post_points

TOPIC = "devices/gps-001/json"


def _on_post(
    processor: Processor, clock: ManualClock, inside: tuple[float, float], minutes: int
) -> None:
    """His terminal reports from the post every 30 s for ``minutes`` from the clock's time."""
    t, end = clock.now(), clock.now() + timedelta(minutes=minutes)
    while t < end:
        clock.set(t + timedelta(seconds=1))
        processor.process_fixes([fix_at("gps-001", t, inside)])
        t += timedelta(seconds=30)
    clock.set(end)


def _deliver(processor: Processor, clock: ManualClock, payload: bytes, *, retain: bool) -> None:
    message = MqttMessage(TOPIC, payload, clock.now(), qos=1, retain=retain)
    outcome = GpsMessageDecoder()(message)
    assert outcome is not None and outcome.rejects == ()
    processor.process_outcomes([outcome])


def _sos_times(engine: Engine) -> list[datetime]:
    return [
        datetime.fromisoformat(json.loads(r.body)["time"])
        for r in outbox_rows(engine)
        if r.type == "alert.sos"
    ]


def test_a_queued_sos_flagged_retained_is_raised_and_only_its_replay_is_not(engine: Engine) -> None:
    load_sample_site(engine)
    clock = ManualClock(DAY_START)
    inside = post_points(engine, "jt-gate-north").inside
    processor = Processor(engine, clock)
    _on_post(processor, clock, inside, 5)
    # Pressed at 08:05 while the gateway was away; handed over with the retain flag on return.
    first = json.dumps({"time": clock.now().isoformat(), "alarms": ["sos"]}).encode()
    _deliver(processor, clock, first, retain=True)
    _on_post(processor, clock, inside, 5)
    # A second emergency at 08:10, queued the same way: another message, raised too.
    second = json.dumps({"time": clock.now().isoformat(), "alarms": ["sos"]}).encode()
    _deliver(processor, clock, second, retain=True)
    _on_post(processor, clock, inside, 5)
    assert _sos_times(engine) == [
        DAY_START + timedelta(minutes=5),
        DAY_START + timedelta(minutes=10),
    ]
    assert processor.counters.snapshot()["alarms.sos"] == 2

    # A restart: the broker hands the retained (second) message over again; so does it on a
    # reconnection of the same process.
    restarted = Processor(engine, clock)
    _deliver(restarted, clock, second, retain=True)
    _on_post(restarted, clock, inside, 5)
    _deliver(restarted, clock, second, retain=True)
    assert len(_sos_times(engine)) == 2
    counters = restarted.counters.snapshot()
    assert (counters.get("alarms.sos", 0), counters["alarms.sos_replayed"]) == (0, 2)


def test_an_undated_sos_repeating_the_same_bytes_live_is_a_new_emergency(engine: Engine) -> None:
    load_sample_site(engine)
    clock = ManualClock(DAY_START)
    inside = post_points(engine, "jt-gate-north").inside
    processor = Processor(engine, clock)
    undated = b'{"alarms": ["sos"]}'
    _on_post(processor, clock, inside, 5)
    _deliver(processor, clock, undated, retain=False)
    _on_post(processor, clock, inside, 20)
    # The same bytes, live (no retain flag): a press of the button, not a broker's replay.
    _deliver(processor, clock, undated, retain=False)
    assert _sos_times(engine) == [
        DAY_START + timedelta(minutes=5),
        DAY_START + timedelta(minutes=25),
    ]
    assert "alarms.sos_replayed" not in processor.counters.snapshot()
