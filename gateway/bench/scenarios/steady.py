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
resident memory, which is the gateway's but for the bench's own few megabytes (one round of the
present guards' topics and places, the send times and the settled-count samples as arrays of
doubles: see ``gateway.bench.paced``); the bare subscriber on the same broker.
Goals (issue 9): alert lateness p99 <= 1 s, resident memory < 1 GB.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from typing import Any

from gateway.bench.common import BenchClock
from gateway.bench.measures import ingest_pids, percentiles, rss_mb
from gateway.bench.paced import start_paced
from gateway.bench.scenarios.live import FIX_PERIOD_S, absent_every, shift_started, wait_until
from gateway.clock import SystemClock

__all__ = ["run"]

LEAD_S = 10.0
GOAL_LATENESS_P99_S = 1.0
GOAL_RSS_MB = 1024.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    guards: int = args.guards or 100_000
    seconds: float = args.seconds or 60.0
    compression: float = args.compression
    if guards < 2:
        raise ValueError("steady needs at least 2 guards")
    t0 = SystemClock().now().replace(microsecond=0)
    # Before the shifts while the roster is written and the gateway starts, however long that
    # takes here; the clock jumps to the shift start once all is ready.
    clock = BenchClock(t0 - timedelta(minutes=min(720.0, 30 * max(1.0, compression))), compression)
    absent, present = absent_every(guards, 100)
    spread = max(0.0, seconds - 2 * LEAD_S) / len(absent)
    starts = [t0] * guards
    for j, i in enumerate(absent):
        starts[i] = t0 + timedelta(seconds=j * spread)
    n_fixes = max(1, round(len(present) * seconds / FIX_PERIOD_S))
    rate = len(present) / FIX_PERIOD_S * compression
    with shift_started(args, clock, t0, starts, absent, present, n_fixes, LEAD_S) as started:
        live, before = started.live, started.settled_before
        began = time.perf_counter()
        round_, count = started.fix_round, started.fix_count
        sent = start_paced(live.broker_url, round_, count, rate, clock).result()
        published_s = time.perf_counter() - began
        stored_all = live.watcher.wait_for(before + n_fixes)
        settled = live.watcher.settled() - before
        done_at = live.watcher.settled_at(before + settled) or time.perf_counter()
        last_due = max(starts[i] for i in absent) + timedelta(seconds=started.grace_s)
        wait_until(
            started.all_absences_raised, lambda: clock.now() > last_due + timedelta(seconds=120)
        )
        live.gateway.runtime.wait_idle(60)
        memory = rss_mb(ingest_pids(live.gateway))
        fix_latency = started.fix_latencies(sent)
        lateness = started.absence_lateness()
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
        **started.facts("steady"),
        "fix_period_s": FIX_PERIOD_S,
        "compression": compression,
        "seconds": seconds,
        **started.set_up(),
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
