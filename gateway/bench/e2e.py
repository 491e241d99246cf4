"""``guard-gateway bench``: sustained positions/s end to end, beside a bare subscriber's rate.

End to end means: terminals publish QoS-1 gateway-JSON fixes to the broker → the gateway's paho
ingest → decode → identity → filters → geofence → presence rules → positions and rule states
committed in the database → PUBACK to the broker (the gateway acknowledges a message only once it
is committed, so the broker's in-flight window, ``--inflight`` for the private broker, caps what
one commit takes in). The rate is timed inside the gateway, from the first message it
received (its first commit, while the publishers are still at work: ``first_receipt_s`` after
the publishing began) to the moment the last one was committed. In the same run, on the same
broker and with the same publishers, a bare paho subscriber that only counts gives the ceiling.

Wall time is read with ``time.perf_counter`` (measurement, not domain time); the gateway itself
runs on the system clock like a production instance.
"""

from __future__ import annotations

import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from drivers.mqtt.broker import start_broker
from gateway.bench.baseline import measure_bare_subscriber, publish_load
from gateway.bootstrap import build_gateway
from gateway.clock import SystemClock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.settings import Settings
from gateway.site.loader import load_site_file

__all__ = ["PUBLISHERS", "bench_site", "fixes", "measure_flood", "run_bench"]

ORIGIN_LAT, ORIGIN_LON = 30.5928, 114.3055
SPACING_M = 200.0
POST_RADIUS_M = 40.0
PUBLISHERS = 4
STALL_S = 20.0


def run_bench(
    *,
    terminals: int,
    messages: int,
    database_url: str | None,
    broker: str | None,
    inflight: int | None = None,
    out: Any = None,
) -> int:
    """Run both measurements and print one JSON object; 0 when every fix was stored.

    ``inflight`` sets the private broker's ``max_inflight_messages``; with ``broker`` given it is
    refused (exit code 2): another broker's window is its operator's setting."""
    out = out or sys.stdout
    if broker is not None and inflight is not None:
        print("--inflight sets the private broker's window; not with --broker", file=sys.stderr)
        return 2
    result = measure_flood(
        terminals=terminals,
        messages=messages,
        database_url=database_url,
        broker=broker,
        inflight=inflight,
    )
    print(json.dumps(result, indent=2), file=out)
    return 0 if result["end_to_end"]["stored"] == messages else 1


def measure_flood(
    *,
    terminals: int,
    messages: int,
    database_url: str | None,
    broker: str | None,
    inflight: int | None = None,
) -> dict[str, Any]:
    """The flood measured in this process, as the JSON object ``run_bench`` prints."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gg-bench-")))
        broker_kind, window = "given", None
        if broker is None:
            running = stack.enter_context(start_broker(max_inflight=inflight))
            broker, broker_kind = running.url, running.kind
            window = getattr(running, "max_inflight", None)
        db_url = database_url or f"sqlite:///{tmp / 'bench.db'}"
        clock = SystemClock()
        now = clock.now()
        site_file = tmp / "bench-site.json"
        site_file.write_text(json.dumps(bench_site(terminals, now)), encoding="utf-8")
        engine = make_engine(db_url)
        create_schema(engine)
        load_site_file(site_file, engine, now)
        engine.dispose()

        settings = Settings(
            database_url=db_url, mqtt_url=broker, mqtt_client_id=f"gg-bench-{time.time_ns()}"
        )
        gateway = build_gateway(settings, clock)
        gateway.start()
        try:
            if gateway.ingest is not None:
                _wait(lambda: gateway.ingest is not None and gateway.ingest.connected, 10)
            load = list(fixes(terminals, messages, now))
            counters = gateway.processor.counters
            # Watched from before the first publish: the gateway stores much of the load while
            # it is being published, so its first receipt is early in the publishing.
            with ThreadPoolExecutor(1, thread_name_prefix="bench-watch") as watch:
                watching = watch.submit(_await_stored, counters, messages)
                started = time.perf_counter()
                publish_load(broker, load, PUBLISHERS)
                published = time.perf_counter()
                first, last = watching.result()
            gateway.runtime.wait_idle(60)
            snapshot = counters.snapshot()
        finally:
            gateway.stop()
        # After the stop: an ingest process sends its last counters as it ends.
        ingest = gateway.ingest.stats if gateway.ingest is not None else None
        bare = measure_bare_subscriber(broker, messages=messages, publishers=PUBLISHERS)

    stored = snapshot.get("fixes.stored", 0)
    seconds = max(last - first, 1e-9)
    e2e_rate = (stored - 1) / seconds if stored > 1 else 0.0
    result: dict[str, Any] = {
        "terminals": terminals,
        "messages": messages,
        "broker": broker_kind,
        "broker_inflight_window": window,
        "database": db_url.split(":", 1)[0],
        "end_to_end": {
            "fixes_per_s": round(e2e_rate, 1),
            "seconds": round(seconds, 3),
            "stored": stored,
            "publish_seconds": round(published - started, 3),
            # The interval starts here, inside the publishing, as the bare subscriber's does.
            "first_receipt_s": round(first - started, 3),
            "counters": {k: v for k, v in snapshot.items() if not k.startswith("events.")},
            # PUBACKs sent once committed; a full pipeline queue that held the ingest back.
            "acknowledged_after_commit": ingest.acknowledged if ingest else None,
            "stale_acks": ingest.stale_acks if ingest else None,
            "backpressure_waits": ingest.backpressure if ingest else None,
        },
        "bare_subscriber": {k: round(v, 3) for k, v in bare.items()},
        "ratio_to_bare": round(e2e_rate / bare["msgs_per_s"], 3) if bare["msgs_per_s"] else None,
    }
    return result


def bench_site(terminals: int, now: datetime) -> dict[str, Any]:
    """A site with one circular post, guard, terminal and running shift per simulated terminal."""
    # Shifts in the site's zone, UTC, so the file reads the same anywhere. They start just
    # before the load so no start-of-shift deadline (absence, silence) is already overdue.
    start = (now - timedelta(minutes=1)).replace(second=0, microsecond=0, tzinfo=None)
    end = start + timedelta(hours=12)
    posts, guards, devices, shifts = [], [], [], []
    for index in range(terminals):
        lat, lon = _post_centre(index)
        posts.append(
            {
                "id": f"p-{index:05d}",
                "name": f"post {index}",
                "kind": "fixed",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [lon, lat], "radius_m": POST_RADIUS_M},
            }
        )
        guards.append({"id": f"g-{index:05d}", "name": f"guard {index}", "team": "bench"})
        devices.append({"id": _device(index), "kind": "gps", "guard": f"g-{index:05d}"})
        shifts.append(
            {
                "guard": f"g-{index:05d}",
                "post": f"p-{index:05d}",
                "start": start.strftime("%Y-%m-%dT%H:%M"),
                "end": end.strftime("%Y-%m-%dT%H:%M"),
            }
        )
    return {
        "sites": [
            {
                "id": "bench",
                "name": "benchmark site",
                "timezone": "UTC",
                "posts": posts,
                "leaders": [],
                "guards": guards,
                "devices": devices,
                "shifts": shifts,
            }
        ]
    }


def _device(index: int) -> str:
    return f"bench-{index:05d}"


def _post_centre(index: int) -> tuple[float, float]:
    side = 50
    north_m, east_m = (index // side) * SPACING_M, (index % side) * SPACING_M
    lat = ORIGIN_LAT + north_m / 111_320.0
    lon = ORIGIN_LON + east_m / (111_320.0 * math.cos(math.radians(ORIGIN_LAT)))
    return lat, lon


def fixes(terminals: int, messages: int, now: datetime) -> Iterator[tuple[str, bytes]]:
    """Gateway-JSON fixes: per terminal, one a second from the shift start (at most a minute
    ago) on, jittered inside its post; the newest are a few seconds in the future, within the
    filters' tolerance."""
    rng = random.Random(7)
    per_terminal = math.ceil(messages / terminals)
    for index in range(messages):
        terminal, sequence = index % terminals, index // terminals
        lat, lon = _post_centre(terminal)
        fix_time = now - timedelta(seconds=min(per_terminal, 55) - sequence * 55 / per_terminal)
        payload = {
            "time": fix_time.isoformat().replace("+00:00", "Z"),
            "lat": round(lat + rng.gauss(0, 5) / 111_320.0, 7),
            "lon": round(lon + rng.gauss(0, 5) / 96_000.0, 7),
            "accuracy_m": 8,
        }
        topic = f"devices/{_device(terminal)}/json"
        yield topic, json.dumps(payload, separators=(",", ":")).encode()


def _await_stored(counters: Any, expected: int) -> tuple[float, float]:
    """Poll the counters; return perf_counter times of the first receipt and the last commit."""
    first = 0.0
    seen, last_change = -1, time.perf_counter()
    while True:
        now = time.perf_counter()
        received = counters.get("fixes.received")
        if received and not first:
            first = now
        done = counters.get("fixes.stored") + sum(
            v for k, v in counters.snapshot().items() if k.startswith("dropped.")
        )
        if done >= expected:
            return first, now
        if done != seen:
            seen, last_change = done, now
        elif now - last_change > STALL_S:
            return first, now
        time.sleep(0.005)


def _wait(predicate: Any, timeout_s: float) -> None:
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the gateway did not connect to the broker")
        time.sleep(0.05)
