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
LEAD_S = 2.0
GOAL_LAST_LATENESS_S = 5.0
GIVE_UP_S = 1800.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    guards: int = args.guards or 100_000
    seconds: float = args.seconds or 20.0
    if guards < 10:
        raise ValueError("shift-change needs at least 10 guards (a tenth absent)")
    grace = SitePolicy().shift_start_grace_s
    t0 = SystemClock().now().replace(second=0, microsecond=0)
    # Before the shifts while the roster is written and the gateway starts, however long that
    # takes here; the clock jumps to the shift start once all is ready.
    clock = BenchClock(t0 - timedelta(minutes=30))
    absent = list(range(9, guards, 10))
    absent_set = set(absent)
    present = [i for i in range(guards) if i not in absent_set]
    rate = len(present) / PERIOD_S
    n_fixes = max(1, round(rate * seconds))
    with live_gateway(
        guards=guards,
        starts=[t0] * guards,
        clock=clock,
        database_url=args.database_url,
        broker=args.broker,
        policy={"device_silent_s": 3600},
        bare_messages=n_fixes,
    ) as live:
        clock.jump(t0 + timedelta(seconds=1))
        warm_s = warm_up(live, present, clock.now())
        deadline = t0 + timedelta(seconds=grace)
        if clock.now() > deadline - timedelta(seconds=LEAD_S):
            raise RuntimeError("warm-up took longer than the absence grace: use fewer guards")
        clock.jump(deadline - timedelta(seconds=LEAD_S))
        before = live.watcher.settled()
        fixes = [
            (f"devices/{device_id(i)}/json", *post_centre(live.roster.post_of[i]))
            for i in (present[k % len(present)] for k in range(n_fixes))
        ]
        began = time.perf_counter()
        paced = start_paced(live.broker_url, fixes, rate, clock)
        all_alerts = wait_until(
            lambda: count_events(live.engine, ALERT_ABSENT_AT_SHIFT_START) >= len(absent),
            lambda: time.perf_counter() - began > GIVE_UP_S,
        )
        alerts_s = time.perf_counter() - began
        sent = paced.result()
        stored_all = live.watcher.wait_for(before + n_fixes)
        live.gateway.runtime.wait_idle(60)
        settled = live.watcher.settled() - before
        fix_latency = latencies(live.watcher, before, sent)
        lateness = alert_lateness(live.engine, ALERT_ABSENT_AT_SHIFT_START)
        memory = rss_mb()
    late = percentiles(lateness)
    met = all_alerts and late["max"] is not None and late["max"] <= GOAL_LAST_LATENESS_S
    return {
        "scenario": "shift-change",
        "machine": machine_facts(live.database_url),
        "broker": live.broker_kind,
        "guards": guards,
        "guards_absent": len(absent),
        "roster_seconds": round(live.roster.seconds, 3),
        "warm_up_seconds": round(warm_s, 3),
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
