"""``bench --scenario shift-change``: G guards whose shift starts at the same minute, a tenth
absent, so G/10 ``alert.absent_at_shift_start`` deadlines fall on the same instant.

Set-up: every shift starts at T0. The nine tenths present send one fix each from inside their
post (warm-up: they arrive). The clock then jumps to 2 s before the deadline (T0 + grace) and
runs with the wall from there, while one publisher sends the present guards' fixes at their
steady rate (one per 20 s each) for ``--seconds`` wall seconds: the traffic that keeps
arriving while the deadlines fire. The silence limit is raised to an hour so the absences are
the only deadlines in the window.

Measured: lateness of each absence alert (outbox row creation on the gateway clock minus the
deadline; the clock advances with real time during the tick, so slow work shows as lateness),
the last one above all (goal <= 5 s); publish -> stored latency of the fixes arriving meanwhile;
the bare subscriber on the same broker.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from typing import Any

from gateway.bench.common import BenchClock, percentiles, rss_mb
from gateway.bench.paced import start_paced
from gateway.bench.scenarios.live import FIX_PERIOD_S, absent_every, shift_started, wait_until
from gateway.clock import SystemClock

__all__ = ["run"]

LEAD_S = 2.0
GOAL_LAST_LATENESS_S = 5.0
GIVE_UP_S = 1800.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    guards: int = args.guards or 100_000
    seconds: float = args.seconds or 20.0
    if guards < 10:
        raise ValueError("shift-change needs at least 10 guards (a tenth absent)")
    t0 = SystemClock().now().replace(second=0, microsecond=0)
    # Before the shifts while the roster is written and the gateway starts, however long that
    # takes here; the clock jumps to the shift start once all is ready.
    clock = BenchClock(t0 - timedelta(minutes=30))
    absent, present = absent_every(guards, 10)
    rate = len(present) / FIX_PERIOD_S
    n_fixes = max(1, round(rate * seconds))
    with shift_started(args, clock, t0, [t0] * guards, absent, present, n_fixes, LEAD_S) as started:
        live, before = started.live, started.settled_before
        began = time.perf_counter()
        paced = start_paced(live.broker_url, started.fixes, rate, clock)
        all_alerts = wait_until(
            started.all_absences_raised, lambda: time.perf_counter() - began > GIVE_UP_S
        )
        alerts_s = time.perf_counter() - began
        sent = paced.result()
        stored_all = live.watcher.wait_for(before + n_fixes)
        live.gateway.runtime.wait_idle(60)
        settled = live.watcher.settled() - before
        fix_latency = started.fix_latencies(sent)
        lateness = started.absence_lateness()
        memory = rss_mb()
    late = percentiles(lateness)
    met = all_alerts and late["max"] is not None and late["max"] <= GOAL_LAST_LATENESS_S
    return {
        **started.facts("shift-change"),
        **started.set_up(),
        "alerts": {
            "absent_at_shift_start": len(lateness),
            "all_raised": all_alerts,
            "lateness_s": late,
            "last_lateness_s": late["max"],
            "wall_seconds_from_jump": round(alerts_s, 3),
        },
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
