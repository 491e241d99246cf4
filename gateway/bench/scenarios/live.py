"""A gateway running on a bench clock against a broker, with a generated roster: the set-up
the steady and shift-change scenarios share.

``live_gateway`` starts a private broker (or uses the one given), writes the roster in bulk,
builds the gateway exactly as ``guard-gateway run`` does (``build_gateway``; no core configured,
so events are kept as record rows, where their lateness is read), starts it and waits until
its MQTT ingest is connected. On leaving, the gateway is stopped, then the bare subscriber is
measured on the same broker so the result can be compared with the broker's own limit.

``shift_started`` is the part of the set-up after that which both scenarios play the same way:
the present guards arrive (``warm_up``) and the machines of the shifts begun are saved, then the
clock jumps to a lead before the first absence deadline and the stream of fixes to send from
there is laid out (``ShiftStart``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from drivers.mqtt.broker import start_broker
from gateway.bench.baseline import measure_bare_subscriber, publish_load
from gateway.bench.common import (
    BenchClock,
    Roster,
    bench_database,
    device_id,
    post_centre,
    write_roster,
)
from gateway.bench.measures import StoredWatcher, machine_facts
from gateway.bench.paced import fix_payload
from gateway.bootstrap import build_gateway
from gateway.db.models import PresenceStateRow
from gateway.lifecycle import Gateway
from gateway.outbox.tables import EVENT_DESTINATIONS, OutboxRow
from gateway.policy import SitePolicy
from gateway.rules.events import ALERT_ABSENT_AT_SHIFT_START
from gateway.settings import Settings

__all__ = [
    "FIX_PERIOD_S",
    "Live",
    "ShiftStart",
    "absent_every",
    "alert_lateness",
    "count_events",
    "latencies",
    "live_gateway",
    "shift_started",
    "wait_until",
    "warm_up",
]

FIX_PERIOD_S = 20.0
"""A present guard's terminal reports once per 20 s of gateway time."""
BARE_MESSAGES_MAX = 50_000
WARM_UP_STALL_S = 600.0
"""A hundred thousand shifts starting at once keep the pipeline busy before the first fix."""
MACHINES_GIVE_UP_S = 900.0


@dataclass
class Live:
    """The running set-up; ``bare`` is filled in once the gateway has stopped."""

    gateway: Gateway
    clock: BenchClock
    broker_url: str
    broker_kind: str
    database_url: str
    engine: Engine
    roster: Roster
    watcher: StoredWatcher
    bare: dict[str, float] = field(default_factory=dict)
    published: int = 0


@contextmanager
def live_gateway(
    *,
    guards: int,
    starts: Sequence[datetime],
    clock: BenchClock,
    database_url: str | None,
    broker: str | None,
    policy: dict[str, Any],
    bare_messages: int,
) -> Iterator[Live]:
    """See the module docstring. ``starts[i]`` is guard ``i``'s shift start."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gg-bench-")))
        kind = "given"
        if broker is None:
            running = stack.enter_context(start_broker())
            broker, kind = running.url, running.kind
        db_url = database_url or f"sqlite:///{tmp / 'bench.db'}"
        engine = stack.enter_context(bench_database(db_url))
        roster = write_roster(
            engine, guards=guards, starts=starts, policy=policy, loaded_at=clock.now()
        )
        settings = Settings(
            database_url=db_url, mqtt_url=broker, mqtt_client_id=f"gg-bench-{time.time_ns()}"
        )
        gateway = build_gateway(settings, clock, with_field_devices=False)
        watcher = StoredWatcher(gateway.processor.counters)
        live = Live(gateway, clock, broker, kind, db_url, engine, roster, watcher)
        gateway.start()
        try:
            watcher.start()
            _wait_connected(gateway)
            yield live
        finally:
            watcher.stop()
            gateway.stop()
        messages = max(100, min(bare_messages, BARE_MESSAGES_MAX))
        live.bare = measure_bare_subscriber(broker, messages=messages, publishers=4)


def warm_up(live: Live, guards: Sequence[int], clock: BenchClock) -> float:
    """Every guard in ``guards`` arrives: two fixes each from inside his post, as fast as the
    broker takes them, the second ``return_confirm_s`` (and a second) after the first on the
    clock, which confirms the arrival (``gateway.rules.deadlines.arrival_due``), dated at the
    first; returns the seconds until every arrival was recorded."""
    began = time.perf_counter()
    if not guards:
        return 0.0
    arrived = count_events(live.engine, "presence.arrived")
    centres = {i: post_centre(live.roster.post_of[i]) for i in guards}
    for round_ in range(2):
        if round_:
            clock.jump(clock.now() + timedelta(seconds=SitePolicy().return_confirm_s + 1))
        when = clock.now()
        target = live.watcher.settled() + len(guards)
        load = [(f"devices/{device_id(i)}/json", fix_payload(when, *centres[i])) for i in guards]
        live.published += publish_load(live.broker_url, load, 4)
        if not live.watcher.wait_for(target, stall_s=WARM_UP_STALL_S):
            raise RuntimeError(f"warm-up: {live.watcher.settled()} of {target} fixes settled")
    live.gateway.runtime.wait_idle(60)
    if not wait_until(
        lambda: count_events(live.engine, "presence.arrived") >= arrived + len(guards),
        lambda: time.perf_counter() - began > MACHINES_GIVE_UP_S,
    ):
        raise RuntimeError("warm-up: the present guards' arrivals were not all recorded")
    return time.perf_counter() - began


def absent_every(guards: int, step: int) -> tuple[list[int], list[int]]:
    """``(absent, present)``: guards ``step - 1``, ``2 * step - 1``, … are absent (the last guard
    when there are fewer than ``step``), every other one present."""
    absent = list(range(step - 1, guards, step)) or [guards - 1]
    absent_set = set(absent)
    return absent, [i for i in range(guards) if i not in absent_set]


@dataclass
class ShiftStart:
    """What ``shift_started`` yields: the live set-up, who is absent and present, the absence
    grace, the wall seconds of the warm-up and of the machines' start, the fixes settled
    before the stream (``settled_before``) and the stream itself for ``start_paced``:
    ``fix_count`` fixes, the present guards' ``(topic, lat, lon)`` in turn (``fix_round``,
    one round)."""

    live: Live
    absent: list[int]
    present: list[int]
    grace_s: float
    warm_up_s: float
    machines_started_s: float
    settled_before: int
    fix_round: list[tuple[str, float, float]]
    fix_count: int

    def facts(self, scenario: str) -> dict[str, Any]:
        """The result's leading keys, shared by the scenarios (in this order): ``scenario``,
        ``machine``, ``broker``, ``guards``, ``guards_absent``."""
        return {
            "scenario": scenario,
            "machine": machine_facts(self.live.database_url),
            "broker": self.live.broker_kind,
            "guards": self.live.roster.guards,
            "guards_absent": len(self.absent),
        }

    def set_up(self) -> dict[str, float]:
        """``roster_seconds``, ``warm_up_seconds`` and ``machines_started_seconds`` (wall
        seconds from the shift start until every machine of the shifts begun was saved, the
        warm-up included), rounded to the millisecond."""
        return {
            "roster_seconds": round(self.live.roster.seconds, 3),
            "warm_up_seconds": round(self.warm_up_s, 3),
            "machines_started_seconds": round(self.machines_started_s, 3),
        }

    def all_absences_raised(self) -> bool:
        """Whether the outbox holds an absence alert for every absent guard."""
        return count_events(self.live.engine, ALERT_ABSENT_AT_SHIFT_START) >= len(self.absent)

    def absence_lateness(self) -> list[float]:
        """``alert_lateness`` of the absence alerts raised so far."""
        return alert_lateness(self.live.engine, ALERT_ABSENT_AT_SHIFT_START)

    def fix_latencies(self, sent: Sequence[float]) -> list[float]:
        """``latencies`` of the stream, ``sent[k]`` the moment its k-th fix was published."""
        return latencies(self.live.watcher, self.settled_before, sent)


@contextmanager
def shift_started(
    args: argparse.Namespace,
    clock: BenchClock,
    t0: datetime,
    starts: Sequence[datetime],
    absent: list[int],
    present: list[int],
    n_fixes: int,
    lead_s: float,
    *,
    silence_s: float | None = 3600.0,
) -> Iterator[ShiftStart]:
    """``live_gateway`` for ``len(starts)`` guards (``starts[i]`` guard ``i``'s shift start, none
    before ``t0``) on ``args.database_url`` and ``args.broker``; then the clock jumps to a second
    after ``t0``, the present guards arrive, the machines of the shifts begun are saved (as in
    the field, where the absences fall a grace after the start), and the clock jumps to
    ``lead_s`` before the first absence deadline (``t0`` plus the site's grace). The stream is
    ``n_fixes`` fixes from the present guards' posts in turn. Raises ``RuntimeError`` if the
    arrivals and the start outlast that instant: the absences would be decided before the
    stream. ``clock`` must read before ``t0``.

    ``silence_s`` is the site's silence limit: an hour by default, so a silent guard raises no
    alert within the run and the absences are the only deadlines; ``None`` keeps the policy's
    own (ten minutes, the absence grace: each absent guard's silence falls with his absence)."""
    grace = SitePolicy().shift_start_grace_s
    policy = {} if silence_s is None else {"device_silent_s": silence_s}
    with live_gateway(
        guards=len(starts),
        starts=starts,
        clock=clock,
        database_url=args.database_url,
        broker=args.broker,
        policy=policy,
        bare_messages=n_fixes,
    ) as live:
        clock.jump(t0 + timedelta(seconds=1))
        began = time.perf_counter()
        due_now = sum(1 for start in starts if start <= clock.now())
        warm_s = warm_up(live, present, clock)
        # As in the field, the machines start at the shift start and the absences fall a grace
        # later: their start is not part of the instant measured.
        if not wait_until(
            lambda: machines_saved(live.engine) >= due_now,
            lambda: time.perf_counter() - began > MACHINES_GIVE_UP_S,
        ):
            raise RuntimeError(f"the machines did not all start within {MACHINES_GIVE_UP_S} s")
        started_s = time.perf_counter() - began
        jump_to = t0 + timedelta(seconds=grace - lead_s)
        if clock.now() > jump_to:
            raise RuntimeError("the start took longer than the absence grace: use fewer guards")
        clock.jump(jump_to)
        fix_round = [
            (f"devices/{device_id(i)}/json", *post_centre(live.roster.post_of[i])) for i in present
        ]
        count = n_fixes if present else 0
        settled = live.watcher.settled()
        yield ShiftStart(live, absent, present, grace, warm_s, started_s, settled, fix_round, count)


def latencies(watcher: StoredWatcher, before: int, sent: Sequence[float]) -> list[float]:
    """Seconds from publishing the k-th fix (``sent[k]``) to the moment ``before + k + 1`` fixes
    were settled; fixes never settled are left out (the result's counts show them)."""
    out = []
    for k, published in enumerate(sent):
        settled = watcher.settled_at(before + k + 1)
        if settled is not None:
            out.append(max(0.0, settled - published))
    return out


def wait_until(done: Callable[[], bool], give_up: Callable[[], bool]) -> bool:
    """Poll ``done`` every 0.2 s until it holds (``True``) or ``give_up`` does (``False``)."""
    while not done():
        if give_up():
            return False
        time.sleep(0.2)
    return True


def machines_saved(engine: Engine) -> int:
    """Presence machines saved so far: one for each shift whose start the pipeline has seen."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(PresenceStateRow)) or 0)


def count_events(engine: Engine, event_type: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.type == event_type)
            )
            or 0
        )


def alert_lateness(engine: Engine, event_type: str) -> list[float]:
    """Seconds from each ``event_type`` event's time (its deadline) to its outbox row's creation,
    both on the gateway clock."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(OutboxRow.event_time, OutboxRow.created_at).where(
                OutboxRow.type == event_type, OutboxRow.destination.in_(EVENT_DESTINATIONS)
            )
        ).all()
    return [(created - due).total_seconds() for due, created in rows]


def _wait_connected(gateway: Gateway, timeout_s: float = 15.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while gateway.ingest is not None and not gateway.ingest.connected:
        if time.perf_counter() > deadline:
            raise TimeoutError("the gateway did not connect to the broker")
        time.sleep(0.05)
