"""The benchmark's scenarios (``guard-gateway bench --scenario NAME``; ``bench --list``).

Each scenario is a module with ``run(args) -> dict``: the one JSON object ``bench`` prints,
with the machine's facts (``gateway.bench.measures.machine_facts``), and a ``goal``/``met`` pair
where issue 9 states a goal. Sizes come from the command's options, so every scenario can run
small (the tests) or at city scale.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any, TextIO

__all__ = ["SCENARIOS", "print_list", "run_scenario"]

SCENARIOS: dict[str, tuple[str, str]] = {
    "flood": (
        "flood",
        "terminals publish as fast as the broker takes: fixes/s end to end beside a bare "
        "subscriber (--terminals, --messages, --database-url, --processes 1|2|4: scaling "
        "efficiency over guard-gateway run processes sharing partitions)",
    ),
    "steady": (
        "steady",
        "--guards on duty (100,000) each sending a fix per 20 s of gateway time "
        "(--compression, --seconds): publish-to-stored latency p50/p99, absence-alert "
        "lateness p99 (goal <= 1 s), resident memory (goal < 1 GB)",
    ),
    "shift-change": (
        "shift_change",
        "--guards (100,000) starting at the same minute, a tenth absent (--absent-every N; "
        "--silent-too: their silences fall with the absences): lateness of the last "
        "alert.absent_at_shift_start (goal <= 5 s) and latency of the fixes arriving meanwhile; "
        "--processes N (PostgreSQL): every guard absent, over 1 and N guard-gateway run "
        "processes sharing partitions",
    ),
    "posts": (
        "posts",
        "per-fix cost through the pipeline with --posts 100, 10,000 and 100,000 posts (goal: flat)",
    ),
    "history": (
        "history",
        "reload time with --days 1 and 365 days of closed shifts stored for --guards (1,000) "
        "(goal: flat)",
    ),
    "delivery": (
        "delivery",
        "events/s from the outbox to a core stub over HTTP with --workers 1 and 2 (--events)",
    ),
}


def print_list(out: TextIO) -> None:
    """One line per scenario: its name and what it measures."""
    width = max(len(name) for name in SCENARIOS)
    for name, (_module, description) in SCENARIOS.items():
        print(f"{name.ljust(width)}  {description}", file=out)


def run_scenario(name: str, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run scenario ``name``, print its JSON object; 0 when it ran (goal met or not), 1 when a
    count fell short, 2 when it could not run here (the reason on stderr)."""
    out = out or sys.stdout
    if name not in SCENARIOS:
        print(f"unknown scenario {name!r}; bench --list names them", file=sys.stderr)
        return 2
    module = importlib.import_module(f"gateway.bench.scenarios.{SCENARIOS[name][0]}")
    try:
        result: dict[str, Any] = module.run(args)
    except (ValueError, RuntimeError) as exc:
        print(f"bench {name}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2), file=out)
    return 0 if _complete(result) else 1


def _complete(result: dict[str, Any]) -> bool:
    """Whether every count the scenario expected was reached (speeds aside)."""
    for key in ("fixes", "fixes_meanwhile"):
        if key in result and not result[key]["all_stored"]:
            return False
    if any(leg.get("all_raised") is False for leg in result.get("legs", ())):
        return False
    alerts = result.get("alerts", {})
    return alerts.get("all_raised", True) is not False
