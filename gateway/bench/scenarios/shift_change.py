"""``bench --scenario shift-change``: G guards whose shift starts at the same minute, a tenth
absent, so G/10 ``alert.absent_at_shift_start`` deadlines fall on the same instant.

``--absent-every N`` makes every N-th guard absent instead (1: all of them, the tick where every
guard's deadline falls); ``--silent-too`` keeps the site's ten-minute silence limit, so each
absent guard's ``alert.device_silent`` falls on the same instant as his absence (the worst case:
two events per absent guard, nobody present). ``--processes N`` (PostgreSQL) runs the instant
where every guard is absent over one ``guard-gateway run`` process and over N sharing the
partitions (``gateway.bench.multiproc_absences``), and reports the speed-up.

Set-up: every shift starts at T0. The nine tenths present send two fixes each from inside
their post, 31 s apart on the clock (warm-up: they arrive, confirmed by the second). The
clock then jumps to 2 s before the deadline (T0 + grace) and runs with the wall from there,
while one publisher sends the present guards' fixes at their steady rate (one per 20 s each)
for ``--seconds`` wall seconds: the traffic that keeps arriving while the deadlines fire. The
silence limit is raised to an hour so the absences are the only deadlines in the window.

Measured: lateness of each absence alert (outbox row creation on the gateway clock minus the
deadline; the clock advances with real time during the tick, so slow work shows as lateness),
the last one above all (goal <= 5 s), and of the last event of that instant (with
``--silent-too``, the silences too); publish -> stored latency of the fixes arriving meanwhile;
the bare subscriber on the same broker.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

from drivers.mqtt.broker import start_broker
from gateway.bench.common import BenchClock
from gateway.bench.measures import ingest_pids, machine_facts, percentiles, rss_mb
from gateway.bench.multiproc import check_available
from gateway.bench.multiproc_absences import launch_absences
from gateway.bench.paced import start_paced
from gateway.bench.scenarios.live import (
    FIX_PERIOD_S,
    absent_every,
    alert_lateness,
    count_events,
    shift_started,
    wait_until,
)
from gateway.clock import SystemClock
from gateway.rules.events import ALERT_DEVICE_SILENT

__all__ = ["run"]

LEAD_S = 2.0
GOAL_LAST_LATENESS_S = 5.0
GIVE_UP_S = 1800.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.processes != 1:
        return _over_processes(args)
    guards: int = args.guards or 100_000
    seconds: float = args.seconds or 20.0
    step: int = args.absent_every or 10
    silent_too: bool = bool(args.silent_too)
    if step < 1:
        raise ValueError("--absent-every must be at least 1 (1: every guard absent)")
    if guards < step:
        raise ValueError(f"shift-change needs at least {step} guards (--absent-every {step})")
    t0 = SystemClock().now().replace(second=0, microsecond=0)
    # Before the shifts while the roster is written and the gateway starts, however long that
    # takes here; the clock jumps to the shift start once all is ready.
    clock = BenchClock(t0 - timedelta(minutes=30))
    absent, present = absent_every(guards, step)
    rate = len(present) / FIX_PERIOD_S
    n_fixes = max(1, round(rate * seconds)) if present else 0
    silence_s = None if silent_too else 3600.0
    with shift_started(
        args, clock, t0, [t0] * guards, absent, present, n_fixes, LEAD_S, silence_s=silence_s
    ) as started:
        live, before = started.live, started.settled_before
        engine = live.engine

        def all_raised() -> bool:
            if not started.all_absences_raised():
                return False
            return not silent_too or count_events(engine, ALERT_DEVICE_SILENT) >= len(absent)

        began = time.perf_counter()
        paced = None
        if started.fix_count:
            round_, count = started.fix_round, started.fix_count
            paced = start_paced(live.broker_url, round_, count, rate, clock)
        all_alerts = wait_until(all_raised, lambda: time.perf_counter() - began > GIVE_UP_S)
        alerts_s = time.perf_counter() - began
        sent: Sequence[float] = paced.result() if paced is not None else []
        stored_all = live.watcher.wait_for(before + n_fixes)
        live.gateway.runtime.wait_idle(60)
        settled = live.watcher.settled() - before
        fix_latency = started.fix_latencies(sent)
        lateness = started.absence_lateness()
        silences = alert_lateness(engine, ALERT_DEVICE_SILENT) if silent_too else []
        memory = rss_mb(ingest_pids(live.gateway))
    late = percentiles(lateness)
    every = lateness + silences
    met = all_alerts and late["max"] is not None and late["max"] <= GOAL_LAST_LATENESS_S
    alerts: dict[str, Any] = {
        "absent_at_shift_start": len(lateness),
        "device_silent": len(silences),
        "all_raised": all_alerts,
        "lateness_s": late,
        "last_lateness_s": late["max"],
        "last_event_lateness_s": round(max(every), 3) if every else None,
        "wall_seconds_from_jump": round(alerts_s, 3),
    }
    return {
        **started.facts("shift-change"),
        **started.set_up(),
        "absent_every": step,
        "silent_too": silent_too,
        "alerts": alerts,
        "fixes_meanwhile": {
            "published": len(sent),
            "settled": settled,
            "all_stored": stored_all,
            "offered_per_s": round(rate, 1),
            "latency_s": percentiles(fix_latency),
        },
        "memory": memory,
        "bare_subscriber": {k: round(v, 3) for k, v in live.bare.items()},
        "goal": {"last_alert_lateness_s": GOAL_LAST_LATENESS_S},
        "met": met,
    }


def _over_processes(args: argparse.Namespace) -> dict[str, Any]:
    """Every guard absent, over one process and over ``--processes`` (see
    ``gateway.bench.multiproc_absences``): the speed-up is the last alert's lateness with one
    process over that with N."""
    processes: int = args.processes
    guards: int = args.guards or 100_000
    if processes < 2:
        raise ValueError("--processes must be at least 1")
    if args.absent_every not in (None, 1) or args.silent_too:
        raise ValueError(
            "--processes runs the instant where every guard is absent: "
            "not with --absent-every or --silent-too"
        )
    check_available(args.database_url)  # before a broker is started for nothing
    with ExitStack() as stack:
        broker, kind = args.broker, "given"
        if broker is None:
            running = stack.enter_context(start_broker())
            broker, kind = running.url, running.kind
        legs = launch_absences(
            processes=[1, processes],
            guards=guards,
            database_url=args.database_url,
            broker_url=broker,
        )
    one, many = legs[0]["last_lateness_s"], legs[1]["last_lateness_s"]
    return {
        "scenario": "shift-change",
        "machine": machine_facts(args.database_url),
        "broker": kind,
        "guards": guards,
        "guards_absent": guards,
        "processes": processes,
        "legs": legs,
        "speed_up": round(one / many, 3) if one and many else None,
        "goal": {"last_alert_lateness_s": GOAL_LAST_LATENESS_S},
        "met": bool(legs[1]["all_raised"]) and many is not None and many <= GOAL_LAST_LATENESS_S,
    }
