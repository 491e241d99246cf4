"""``bench --scenario history``: how long a reload takes as closed shifts pile up.

For each history length (``--days``, default 1 and 365) a fresh database gets ``--guards``
guards (default 1,000) with one running shift each, and one closed 12-hour shift per guard for
every past day, each with its saved presence state (closed, as the rules leave it when a shift
is over). Measured: the pipeline's start (``Processor``: the roster and the saved states read)
and a ``reload`` while running (what a site load or a refused API call triggers), and the
resident memory after. Goal (issue 9): flat, read here as the longest history's reload at most
1.25 times the shortest's (+ 50 ms, so that tiny runs are not judged on noise).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from gateway.bench.common import BenchClock, bench_database, device_id, write_roster
from gateway.bench.measures import machine_facts, rss_mb
from gateway.clock import SystemClock, utc
from gateway.db.models import PresenceStateRow, ShiftRow
from gateway.gc_tuning import collector_as_a_gateway
from gateway.pipeline.processor import Processor
from gateway.rules import PresenceState

__all__ = ["run"]

DEFAULT_DAYS = (1, 365)
GOAL_RATIO = 1.25
GOAL_SLACK_S = 0.05
_ROWS_PER_INSERT = 5000


def run(args: argparse.Namespace) -> dict[str, Any]:
    days_list = tuple(args.days or DEFAULT_DAYS)
    guards: int = args.guards or 1000
    legs = []
    url = "sqlite"
    for days in days_list:
        leg, url = _leg(days, guards, args.database_url)
        legs.append(leg)
    reloads = [leg["reload_seconds"] for leg in legs]
    ratio = round(reloads[-1] / reloads[0], 3) if reloads and reloads[0] else None
    met = bool(reloads) and reloads[-1] <= reloads[0] * GOAL_RATIO + GOAL_SLACK_S
    return {
        "scenario": "history",
        "machine": machine_facts(url),
        "guards": guards,
        "legs": legs,
        "reload_ratio": ratio,
        "goal": {"reload_ratio_at_most": GOAL_RATIO, "slack_s": GOAL_SLACK_S},
        "met": met,
    }


def _leg(days: int, guards: int, database_url: str | None) -> tuple[dict[str, Any], str]:
    with tempfile.TemporaryDirectory(prefix="gg-bench-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = SystemClock().now().replace(second=0, microsecond=0)
        clock = BenchClock(t0 + timedelta(minutes=1))
        with bench_database(url) as engine, collector_as_a_gateway():
            roster = write_roster(engine, guards=guards, starts=[t0] * guards, loaded_at=t0)
            began = time.perf_counter()
            closed = _write_history(engine, guards, days, t0)
            history_s = time.perf_counter() - began
            began = time.perf_counter()
            processor = Processor(engine, clock)
            start_s = time.perf_counter() - began
            processor.tick()
            began = time.perf_counter()
            processor.reload()
            reload_s = time.perf_counter() - began
            open_states = len(processor.memory.presence)
            memory = rss_mb()
    leg = {
        "days": days,
        "closed_shifts": closed,
        "open_states": open_states,
        "roster_seconds": round(roster.seconds, 3),
        "history_write_seconds": round(history_s, 3),
        "start_seconds": round(start_s, 3),
        "reload_seconds": round(reload_s, 3),
        "memory": memory,
    }
    return leg, url


def _write_history(engine: Engine, guards: int, days: int, today: datetime) -> int:
    """One closed 12-hour shift a day per guard, ``days`` days back, with its closed state."""
    shifts: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    written = 0
    with Session(engine) as session, session.begin():
        for day in range(1, days + 1):
            start = utc(today - timedelta(days=day))
            end = start + timedelta(hours=12)
            for i in range(guards):
                shift_id = f"bench:g-{i:06d}:{start.strftime('%Y%m%dT%H%M%S')}"
                state = PresenceState.start(
                    shift_id, f"g-{i:06d}", f"p-{i:06d}", "bench", (device_id(i),), start, end
                )
                state = replace(
                    state,
                    next_deadline=None,
                    stepped_at=end,
                    closed=True,
                    ended=True,
                    arrived_at=start + timedelta(minutes=2),
                    absent_checked=True,
                    last_fix_time=end - timedelta(seconds=20),
                    last_received_at=end - timedelta(seconds=19),
                    last_device_id=device_id(i),
                )
                shifts.append(
                    {
                        "id": shift_id,
                        "site_id": "bench",
                        "guard_id": f"g-{i:06d}",
                        "post_id": f"p-{i:06d}",
                        "starts_at": start,
                        "ends_at": end,
                    }
                )
                states.append(
                    {
                        "shift_id": shift_id,
                        "guard_id": f"g-{i:06d}",
                        "state": state.to_json(),
                        "next_deadline": None,
                        "updated_at": end,
                    }
                )
                if len(states) >= _ROWS_PER_INSERT:
                    written += _flush(session, shifts, states)
        written += _flush(session, shifts, states)
    return written


def _flush(session: Session, shifts: list[dict[str, Any]], states: list[dict[str, Any]]) -> int:
    count = len(states)
    if count:
        session.execute(insert(ShiftRow), shifts)
        session.execute(insert(PresenceStateRow), states)
    shifts.clear()
    states.clear()
    return count
