"""``bench --scenario flood``: the flood of ``guard-gateway bench`` (every terminal publishing as
fast as the broker takes, end to end beside a bare subscriber), with machine facts, the goal of
issue 9 (end to end >= 0.8 of the bare subscriber) and, with ``--processes`` above 1, the same
flood over that many ``guard-gateway run`` processes (``gateway.bench.multiproc``) and the
scaling efficiency rate(N) / (N x rate(1)), both legs through the same launcher.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from typing import Any

from drivers.mqtt.broker import start_broker
from gateway.bench.baseline import measure_bare_subscriber
from gateway.bench.e2e import measure_flood
from gateway.bench.measures import machine_facts
from gateway.bench.multiproc import check_available, launch_flood

__all__ = ["GOAL_RATIO_TO_BARE", "run"]

GOAL_RATIO_TO_BARE = 0.8


def run(args: argparse.Namespace) -> dict[str, Any]:
    processes: int = args.processes
    if processes < 1:
        raise ValueError("--processes must be at least 1")
    db_url = args.database_url or "sqlite"
    messages: int = args.messages or 60_000
    if args.broker is not None and args.inflight is not None:
        raise ValueError("--inflight sets the private broker's window; not with --broker")
    if processes == 1:
        result = measure_flood(
            terminals=args.terminals,
            messages=messages,
            database_url=args.database_url,
            broker=args.broker,
            inflight=args.inflight,
        )
        ratio = result["ratio_to_bare"]
        return {
            "scenario": "flood",
            "machine": machine_facts(db_url),
            "processes": 1,
            **result,
            "goal": {"ratio_to_bare_at_least": GOAL_RATIO_TO_BARE},
            "met": ratio is not None
            and ratio >= GOAL_RATIO_TO_BARE
            and result["end_to_end"]["stored"] == messages,
        }
    check_available(args.database_url)  # before a broker is started for nothing
    with ExitStack() as stack:
        broker, kind = args.broker, "given"
        if broker is None:
            running = stack.enter_context(start_broker(max_inflight=args.inflight))
            broker, kind = running.url, running.kind
        legs = [
            launch_flood(
                processes=n,
                terminals=args.terminals,
                messages=messages,
                database_url=args.database_url,
                broker_url=broker,
            )
            for n in (1, processes)
        ]
        bare = measure_bare_subscriber(broker, messages=messages, publishers=4)
    one, many = legs[0]["fixes_per_s"], legs[1]["fixes_per_s"]
    efficiency = round(many / (processes * one), 3) if one else None
    return {
        "scenario": "flood",
        "machine": machine_facts(db_url),
        "terminals": args.terminals,
        "messages": messages,
        "broker": kind,
        "processes": processes,
        "legs": legs,
        "scaling_efficiency": efficiency,
        "bare_subscriber": {k: round(v, 3) for k, v in bare.items()},
        "ratio_to_bare": round(many / bare["msgs_per_s"], 3) if bare["msgs_per_s"] else None,
        "goal": {"ratio_to_bare_at_least": GOAL_RATIO_TO_BARE},
        "met": bool(bare["msgs_per_s"]) and many / bare["msgs_per_s"] >= GOAL_RATIO_TO_BARE,
    }
