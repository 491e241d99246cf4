"""``bench --scenario steady``: G guards on duty, each sending one fix per 20 s of gateway time.

Set-up: every guard's shift starts at T0; one guard in a hundred never sends (his shift starts
a little later, spread over the run, so his ``alert.absent_at_shift_start`` deadline falls
while fixes stream). The others first send one fix each (warm-up: they arrive on post), then the
clock jumps to 10 s before the first absence deadline and one publisher sends every present
guard's fix once per 20 s of the bench clock, ``--compression`` times faster than the wall,
for ``--seconds`` of bench-clock time. The silence limit is raised to an hour so that only the
absences fall in the window (a guard's next fix is 20 s away, never 10 minutes).

Measured: publish → stored latency of each fix (p50/p99/max, wall seconds); lateness of each
absence alert against its deadline (outbox row creation on the gateway clock minus the event's
time, the deadline; the clock runs with the wall, so slow work shows as lateness); the process's
resident memory, gateway included; the bare subscriber on the same broker.
Goals (issue 9): alert lateness p99 <= 1 s, resident memory < 1 GB.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from typing import Any

from gateway.bench.common import (
    BenchClock,
    device_id,
    machine_facts,
    percentiles,
    post_centre,
    rss_mb,
)
from gateway.bench.paced import start_paced
from gateway.bench.scenarios.live import (
    alert_lateness,
    count_events,
    latencies,
    live_gateway,
    wait_until,
    warm_up,
)
from gateway.clock import SystemClock
from gateway.policy import SitePolicy
from gateway.rules.events import ALERT_ABSENT_AT_SHIFT_START

__all__ = ["run"]

PERIOD_S = 20.0
LEAD_S = 10.0
GOAL_LATENESS_P99_S = 1.0
GOAL_RSS_MB = 1024.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    guards: int = args.guards or 100_000
    seconds: float = args.seconds or 60.0
    compression: float = args.compression
    if guards < 2:
        raise ValueError("steady needs at least 2 guards")
    grace = SitePolicy().shift_start_grace_s
    t0 = SystemClock().now().replace(microsecond=0)
    # Before the shifts while the roster is written and the gateway starts, however long that
    # takes here; the clock jumps to the shift start once all is ready.
    clock = BenchClock(t0 - timedelta(minutes=min(720.0, 30 * max(1.0, compression))), compression)
    absent = list(range(99, guards, 100)) or [guards - 1]
    absent_set = set(absent)
    present = [i for i in range(guards) if i not in absent_set]
    spread = max(0.0, seconds - 2 * LEAD_S) / len(absent)
    starts = [t0] * guards
    for j, i in enumerate(absent):
        starts[i] = t0 + timedelta(seconds=j * spread)
    n_fixes = max(1, round(len(present) * seconds / PERIOD_S))
    rate = len(present) / PERIOD_S * compression
    with live_gateway(
        guards=guards,
        starts=starts,
        clock=clock,
        database_url=args.database_url,
        broker=args.broker,
        policy={"device_silent_s": 3600},
        bare_messages=n_fixes,
    ) as live:
        clock.jump(t0 + timedelta(seconds=1))
        warm_s = warm_up(live, present, clock.now())
        jump_to = t0 + timedelta(seconds=grace - LEAD_S)
        if clock.now() > jump_to:
            raise RuntimeError("warm-up took longer than the absence grace: use fewer guards")
        clock.jump(jump_to)
        before = live.watcher.settled()
        fixes = [
            (f"devices/{device_id(i)}/json", *post_centre(live.roster.post_of[i]))
            for i in (present[k % len(present)] for k in range(n_fixes))
        ]
        began = time.perf_counter()
        sent = start_paced(live.broker_url, fixes, rate, clock).result()
        published_s = time.perf_counter() - began
        stored_all = live.watcher.wait_for(before + n_fixes)
        settled = live.watcher.settled() - before
        done_at = live.watcher.settled_at(before + settled) or time.perf_counter()
        last_due = max(starts[i] for i in absent) + timedelta(seconds=grace)
        wait_until(
            lambda: count_events(live.engine, ALERT_ABSENT_AT_SHIFT_START) >= len(absent),
            lambda: clock.now() > last_due + timedelta(seconds=120),
        )
        live.gateway.runtime.wait_idle(60)
        memory = rss_mb()
        fix_latency = latencies(live.watcher, before, sent)
        lateness = alert_lateness(live.engine, ALERT_ABSENT_AT_SHIFT_START)
        counters = live.gateway.processor.counters.snapshot()
    late = percentiles(lateness)
    stored_rate = settled / max(done_at - began, 1e-9)
    met = (
        late["p99"] is not None
        and late["p99"] <= GOAL_LATENESS_P99_S
        and memory["peak_rss_mb"] is not None
        and memory["peak_rss_mb"] < GOAL_RSS_MB
        and stored_all
    )
    return {
        "scenario": "steady",
        "machine": machine_facts(live.database_url),
        "broker": live.broker_kind,
        "guards": guards,
        "guards_absent": len(absent),
        "fix_period_s": PERIOD_S,
        "compression": compression,
        "seconds": seconds,
        "roster_seconds": round(live.roster.seconds, 3),
        "warm_up_seconds": round(warm_s, 3),
        "fixes": {
            "published": len(sent),
            "settled": settled,
            "all_stored": stored_all,
            "offered_per_s": round(rate, 1),
            "publish_seconds": round(published_s, 3),
            "stored_per_s": round(stored_rate, 1),
            "latency_s": percentiles(fix_latency),
            "stored_counter": counters.get("fixes.stored", 0),
        },
        "alerts": {
            "absent_at_shift_start": len(lateness),
            "lateness_s": late,
        },
        "memory": memory,
        "bare_subscriber": {k: round(v, 3) for k, v in live.bare.items()},
        "goal": {"alert_lateness_p99_s": GOAL_LATENESS_P99_S, "peak_rss_mb_below": GOAL_RSS_MB},
        "met": met,
    }
