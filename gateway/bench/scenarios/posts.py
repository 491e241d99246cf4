"""``bench --scenario posts``: what one fix costs in the pipeline as a site has more posts.

For each post count (``--posts``, default 100, 10,000 and 100,000) a fresh database gets that
many posts and ``--guards`` guards on duty (default 1,000, spread over the posts); the
pipeline (``Processor``, the same chain ``guard-gateway run`` runs: identity, filters, geofence,
rules, storage) then takes ``--messages`` fixes from inside the guards' posts, in batches of
1,000 as the runtime forms them, the garbage collector set as ``guard-gateway run`` sets it
(``gc_tuning.collector_as_a_gateway``). No broker: this isolates the per-fix cost from the
ingest.
Goal (issue 9): flat, read here as the largest count's rate at least 0.8 of the smallest's.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway.bench.common import BenchClock, bench_database, device_id, post_centre, write_roster
from gateway.bench.measures import machine_facts
from gateway.clock import SystemClock
from gateway.gc_tuning import collector_as_a_gateway
from gateway.pipeline.processor import Processor
from gateway.records import PositionFix

__all__ = ["run"]

BATCH = 1000
GOAL_FLATNESS = 0.8
DEFAULT_POSTS = (100, 10_000, 100_000)


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = tuple(args.posts or DEFAULT_POSTS)
    guards: int = args.guards or 1000
    messages: int = args.messages or 20_000
    legs = []
    db_kind = "sqlite"
    for posts in sizes:
        leg, db_kind = _leg(posts, guards, messages, args.database_url)
        legs.append(leg)
    rates = [leg["fixes_per_s"] for leg in legs]
    flatness = round(rates[-1] / rates[0], 3) if rates and rates[0] else None
    return {
        "scenario": "posts",
        "machine": machine_facts(db_kind),
        "guards": guards,
        "messages": messages,
        "legs": legs,
        "flatness": flatness,
        "goal": {"flatness_at_least": GOAL_FLATNESS},
        "met": flatness is not None and flatness >= GOAL_FLATNESS,
    }


def _leg(
    posts: int, guards: int, messages: int, database_url: str | None
) -> tuple[dict[str, Any], str]:
    with tempfile.TemporaryDirectory(prefix="gg-bench-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = SystemClock().now().replace(microsecond=0)
        clock = BenchClock(t0 + timedelta(seconds=1))
        with bench_database(url) as engine, collector_as_a_gateway() as freeze_started:
            roster = write_roster(
                engine, guards=guards, posts=posts, starts=[t0] * guards, loaded_at=t0
            )
            began = time.perf_counter()
            processor = Processor(engine, clock)
            processor.tick()  # the shifts' machines start
            reload_s = time.perf_counter() - began
            freeze_started()
            rng = random.Random(posts)
            fixes = []
            for k in range(messages):
                i = k % guards
                lat, lon = post_centre(roster.post_of[i])
                when = clock.now() + timedelta(seconds=k // guards)
                fixes.append(
                    PositionFix(
                        device_id=device_id(i),
                        fix_time=when,
                        received_at=when,
                        lat=lat + rng.gauss(0, 5) / 111_320.0,
                        lon=lon + rng.gauss(0, 5) / 96_000.0,
                        accuracy_m=8.0,
                        source_format="json",
                        raw="{}",
                    )
                )
            began = time.perf_counter()
            for start in range(0, messages, BATCH):
                processor.process_fixes(fixes[start : start + BATCH])
            seconds = time.perf_counter() - began
            stored = processor.counters.get("fixes.stored")
    leg = {
        "posts": posts,
        "roster_seconds": round(roster.seconds, 3),
        "start_seconds": round(reload_s, 3),
        "stored": stored,
        "seconds": round(seconds, 3),
        "fixes_per_s": round(stored / seconds, 1) if seconds else 0.0,
        "ms_per_fix": round(seconds * 1000 / stored, 4) if stored else None,
    }
    return leg, url
