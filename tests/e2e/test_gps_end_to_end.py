"""End to end: simulated GPS terminals → a private Mosquitto → the gateway → the core stub.

Every test runs the real parts (broker started by the fixture, SQLite or PostgreSQL, the HTTP
core stub that checks signatures) on one manual clock, and checks what the management core
received: which events, in which order, each exactly once.

Guard g-001 keeps the north gate (08:00-20:00 Asia/Shanghai). Device-id conventions: JT/T 808
terminals are known by their phone number without leading zeros (the simulator pads it to 12
digits); OwnTracks terminals by ``<user>/<device>`` from the topic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from drivers.mqtt.broker import RunningBroker
from fwsim.gps.encoders import EncoderOptions
from fwsim.scenario.day_spec import load_day_scenario
from gateway.bootstrap import ApiServer
from tests.e2e.helpers import DAY_START
from tests.e2e.rig import Rig, running_rig, terminal
from tests.fixtures.mqtt import BrokerPublisher

SCENARIOS = Path(__file__).resolve().parents[2] / "firmware-sim" / "scenarios"
DEPARTURE_TIMELINE: list[dict[str, Any]] = yaml.safe_load(
    (SCENARIOS / "single-guard-departure.yaml").read_text("utf-8")
)["terminals"][0]["timeline"]
"""On post 5 min, walks 250 m north, away 16 min, walks back, on post 10 min."""

DEPARTURE_EVENTS = [
    "presence.arrived",
    "presence.departed",
    "alert.unreported_departure",
    "alert.overtime_departure",
    "presence.returned",
]

# format -> (device id in the site file, the simulated terminal's id, its encoder options)
TERMINALS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "json": ("13800000001", "13800000001", None),
    "owntracks": ("zhangwei/phone", "phone", {"user": "zhangwei", "device": "phone"}),
    "nmea": ("13800000001", "13800000001", None),
    "jt808": ("13800000001", "13800000001", None),
}

RigFactory = Callable[..., Rig]


@pytest.fixture
def rig_factory(
    db_url: str,
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    tmp_path: Path,
) -> Iterator[RigFactory]:
    """``rig_factory(roster, **settings)`` starts a rig; it is stopped after the test."""
    stack: list[Any] = []

    def make(roster: list[tuple[str, str, str]], **settings: Any) -> Rig:
        context = running_rig(db_url, mqtt_broker.url, mqtt_publisher, tmp_path, roster, **settings)
        rig = context.__enter__()
        stack.append(context)
        return rig

    yield make
    for context in reversed(stack):
        context.__exit__(None, None, None)


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def when(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))


def of(events: list[dict[str, Any]], type_: str) -> dict[str, Any]:
    found = [e for e in events if e["type"] == type_]
    assert len(found) == 1, f"{type_}: {len(found)} events"
    return found[0]


@pytest.mark.parametrize("fmt", ["json", "owntracks", "nmea", "jt808"])
def test_departure_scenario_delivers_exactly_the_expected_events(
    rig_factory: RigFactory, fmt: str
) -> None:
    """The guard's day is the shipped site-day scenario ``unreported-departure.yaml`` (07:58 to
    08:32: on post until 08:05, 250 m north, away 16 minutes, back), played here on the rig's
    post and manual clock in each format; its expectations are those ``fwsim check`` judges."""
    site_device, sim_device, options = TERMINALS[fmt]
    rig = rig_factory([("g-001", "jt-gate-north", site_device)])
    day = load_day_scenario(SCENARIOS / "unreported-departure.yaml")
    assert day.gps is not None and day.start == DAY_START - timedelta(minutes=2)
    lon, lat = rig.anchors["jt-gate-north"]
    (spec,) = day.gps.terminals
    opts = EncoderOptions(**{"owntracks_" + k: v for k, v in (options or {}).items()})
    spec = replace(spec, device_id=sim_device, format=fmt, anchor=(lat, lon), options=opts)
    runner = rig.scenario_runner(replace(day.gps, terminals=(spec,)), day.start)
    rig.play(runner.end_time + timedelta(seconds=30))
    rows = rig.delivered()

    events = rig.stub.events
    assert [e["type"] for e in events] == DEPARTURE_EVENTS
    assert [e["id"] for e in events] == [r.event_id for r in rows]
    assert rig.stub.duplicates == [] and rig.stub.rejected == 0
    for event in events:
        assert event["specversion"] == "1.0"
        assert event["source"] == "urn:guard-gateway:e2e"
        assert event["subject"] == "g-001"
        assert event["data"]["post_id"] == "jt-gate-north"
        assert event["data"]["device_id"] == site_device
        assert event["data"]["backfilled"] is False

    departed = of(events, "presence.departed")
    # He starts walking at 08:05 and is past the fence, margin and accuracy within a minute.
    assert at(5) < when(departed) <= at(6)
    assert when(of(events, "alert.unreported_departure")) == when(departed)
    overtime = of(events, "alert.overtime_departure")
    assert when(overtime) == when(departed) + timedelta(minutes=15)
    assert overtime["data"]["late"] is False
    returned = of(events, "presence.returned")["data"]
    # 16 min away plus most of the 3-minute walk each way.
    assert 18 * 60 < returned["duration_s"] < 22 * 60
    counters = rig.counters()
    # The terminal is on from 07:58:30; fixes before his 08:00 shift are dropped as off duty.
    before_shift = sum(p.fixes for p in runner.plan if p.at < DAY_START)
    assert before_shift == 3
    bad = ("rejected.", "errors.", "dropped.")
    assert {k: v for k, v in counters.items() if k.startswith(bad)} == {
        "dropped.off_duty": before_shift
    }
    expected_fixes = sum(s.fixes for s in runner.stats().values())
    assert counters["fixes.stored"] == expected_fixes - before_shift


def test_core_failing_for_a_while_loses_and_duplicates_nothing(rig_factory: RigFactory) -> None:
    rig = rig_factory(
        [
            ("g-001", "jt-gate-north", "13800000001"),
            ("g-002", "jt-gate-east", "13800000002"),
        ],
        core_timeout_s=0.3,
    )
    runner = rig.runner(
        [
            terminal("13800000001", "json", rig.anchors["jt-gate-north"], DEPARTURE_TIMELINE),
            terminal(
                "13800000002",
                "nmea",
                rig.anchors["jt-gate-east"],
                DEPARTURE_TIMELINE,
                seed=2,
                start_offset_s=90,
            ),
        ]
    )
    rig.stub.fail_next(3)  # the first deliveries are answered 503
    recorded_before_slow: list[int] = []

    def faults(now: datetime) -> None:
        if now == at(6):
            rig.stub.set_down(True)  # connection refused through both departures
        elif now == at(21):
            rig.stub.set_down(False)
            # Slower than the gateway waits: the core keeps the event, the gateway never hears.
            rig.stub.delay_s = 0.6
            recorded_before_slow.append(len(rig.stub.deliveries))
        elif (
            recorded_before_slow
            and rig.stub.delay_s
            # Hold the clock (up to 1 s of wall time a step) until the core has kept one.
            and rig.stub.wait_for(lambda: len(rig.stub.deliveries) > recorded_before_slow[0], 1)
        ):
            rig.stub.delay_s = 0.0

    rig.play(runner.end_time + timedelta(minutes=1), at_step=faults)
    rows = rig.delivered()

    events = rig.stub.events
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))  # the core saw every event once...
    assert sorted(ids) == sorted(r.event_id for r in rows)  # ...and every event
    assert rig.stub.failed >= 3
    for guard in ("g-001", "g-002"):
        at_core = [e["id"] for e in events if e["subject"] == guard]
        in_outbox = [r.event_id for r in rows if r.subject == guard]
        assert at_core == in_outbox, f"order of {guard}'s events"
        assert [e["type"] for e in events if e["subject"] == guard] == DEPARTURE_EVENTS
    # A repeat (the gateway gave up waiting, the core had it) is byte-identical: same id, same
    # body, same signature, so the core drops it.
    bodies: dict[str, bytes] = {}
    for event_id, body in rig.stub.deliveries:
        assert bodies.setdefault(event_id, body) == body
    assert rig.stub.duplicates and set(rig.stub.duplicates) <= set(ids)


MALFORMED: list[tuple[str, bytes]] = [
    ("devices/13800000001/json", b"{not json"),
    ("devices/13800000001/json", b'{"lat": "north", "lon": 114.3}'),
    ("devices/13800000001/json", b""),
    ("devices/x/json", b"\xff\xfe\x00\x81garbage\x00"),
    ("devices/x/json", b'{"device_id": "x", "fixes": "' + b"A" * 1_000_000 + b'"}'),
    ("devices/x/nmea", b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*00\r\n"),
    ("devices/x/nmea", b"\x00\x01\x02 not a sentence"),
    ("devices/x/nmea", b""),
    ("devices/x/jt808", b"\x7e\x02\x00\x00\x7e"),
    ("devices/x/jt808", b"7e0200zz7e"),
    ("devices/x/jt808", bytes(range(256)) * 64),
    ("owntracks/u/d", b'{"_type": "location", "lat": "abc", "lon": 114.3, "tst": 1}'),
    ("owntracks/u/d", b"[1, 2, 3]"),
    ("owntracks/u/d", b""),
    ("jt808/c/13800000001/up", b'{"header": {"msg_id": 512}, "body": "nonsense"}'),
    ("jt808/c/13800000001/up", b"\x00" * 4096),
]


def test_malformed_payloads_on_every_topic_are_counted_and_dropped_while_valid_traffic_goes_on(
    rig_factory: RigFactory,
) -> None:
    rig = rig_factory([("g-001", "jt-gate-north", "13800000001")])
    runner = rig.runner(
        [terminal("13800000001", "json", rig.anchors["jt-gate-north"], DEPARTURE_TIMELINE)]
    )
    counted: list[tuple[str, bytes, dict[str, int]]] = []

    def rejected_total() -> int:
        return sum(
            v
            for k, v in rig.counters().items()
            if k.startswith(("rejected.", "errors.decoder", "ignored."))
        )

    def inject(now: datetime) -> None:
        # While he is on post, and again while he is away: bad input never disturbs the rules.
        if now not in (at(2), at(12)):
            return
        for topic, payload in MALFORMED:
            before, fixes_before = rejected_total(), rig.counters().get("fixes.received", 0)
            rig.publish(topic, payload)
            rig.settle()
            after = rig.counters()
            if rejected_total() <= before or after.get("fixes.received", 0) != fixes_before:
                counted.append((topic, payload[:40], after))

    rig.play(runner.end_time + timedelta(seconds=30), at_step=inject)
    rig.delivered()

    assert counted == [], "not counted as rejected, or taken as a fix"
    assert [e["type"] for e in rig.stub.events] == DEPARTURE_EVENTS
    counters = rig.counters()
    assert counters.get("errors.decoder", 0) == 0  # a codec that raises is a codec bug
    assert counters.get("errors.transaction", 0) == 0
    assert counters["fixes.stored"] == sum(s.fixes for s in runner.stats().values())

    api = ApiServer(rig.gateway.app)
    try:
        health = httpx.get(api.start() + "/health", timeout=10).json()
    finally:
        api.stop()
    rejected = {k: v for k, v in health["counters"].items() if k.startswith("rejected.")}
    assert sum(rejected.values()) >= 2 * len(MALFORMED)
    # One counter per kind of problem, never one per offending value.
    assert all(re.fullmatch(r"rejected\.[a-z_-]+", k) for k in rejected), sorted(rejected)
    assert {"rejected.not_json", "rejected.checksum_mismatch"} <= set(rejected)


BLIND_TIMELINE: list[dict[str, Any]] = [
    {"stay": {"duration_s": 300}},
    # Out of the gate and down the ramp into the basement car park: no network from here.
    {"walk": {"to": {"north_m": 200, "east_m": 0}, "speed_mps": 20}},
    {"offline": {"duration_s": 480}},
    {"stay_away": {"duration_s": 600}},
    {"return": {"speed_mps": 1.4}},
    {"stay": {"duration_s": 300}},
]


@pytest.mark.parametrize("fmt", ["jt808", "json", "owntracks", "nmea"])
def test_blind_area_batch_reveals_the_departure_backfilled_and_nothing_twice(
    rig_factory: RigFactory, fmt: str
) -> None:
    site_device, sim_device, options = TERMINALS[fmt]
    rig = rig_factory([("g-001", "jt-gate-north", site_device)])
    runner = rig.runner(
        [terminal(sim_device, fmt, rig.anchors["jt-gate-north"], BLIND_TIMELINE, options=options)]
    )
    uploads = [p for p in runner.plan if p.kind == "batch"]
    assert uploads and all(p.at == at(13) + timedelta(seconds=10) for p in uploads)
    rig.play(runner.end_time + timedelta(seconds=30))
    # The terminal uploads its stored positions again (it never saw the platform's answer).
    for upload in uploads:
        rig.publish(upload.topic, upload.payload)
    rig.settle()
    rig.clock.advance(60)
    rig.settle()
    rows = rig.delivered()

    events = rig.stub.events
    assert [e["type"] for e in events] == DEPARTURE_EVENTS
    assert [e["id"] for e in events] == [r.event_id for r in rows]
    assert rig.stub.duplicates == []
    backfilled = {e["type"]: e["data"]["backfilled"] for e in events}
    assert backfilled == {
        "presence.arrived": False,
        "presence.departed": True,  # revealed at 08:13:10 by fixes from 08:05:30 on
        "alert.unreported_departure": True,
        "alert.overtime_departure": False,  # 08:20:30, on the clock, live
        "presence.returned": False,
    }
    departed = of(events, "presence.departed")
    assert when(departed) == at(5.5)
    assert departed["data"]["detected_at"] == (at(13) + timedelta(seconds=10)).isoformat()
    assert when(of(events, "alert.overtime_departure")) == at(20.5)
    counters = rig.counters()
    stored_fixes = sum(s.fixes for s in runner.stats().values())
    assert counters["fixes.stored"] == stored_fixes
    # Each re-sent fix dropped once: by the filters while they remember it (the newest fixes of
    # the device), else by the store, which holds it; none reached the rules twice (above).
    resent = sum(p.fixes for p in uploads)
    assert counters.get("dropped.duplicate", 0) + counters["dropped.duplicate_stored"] == resent
