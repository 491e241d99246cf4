"""A paced publisher: fixes at a steady rate from one MQTT client in another process.

One client keeps the fixes in one order through the broker and the gateway's pipeline, so the
k-th fix published is the k-th stored (see ``StoredWatcher``). Each fix is stamped with the
bench clock's time when it is published (the other process reads the same clock through
``BenchClock.state``), and the publish moment is recorded on ``time.perf_counter``, the
system's monotonic counter on Linux, comparable across processes.

The bench's process holds only one round of the stream (a topic and a place per sending
device) and gets the send times back as one array of doubles: what it keeps does not grow with
the run's length, so the resident memory the scenarios report is the gateway's, to within a few
megabytes (a 700-s run at 100,000 guards sends 3.5 million fixes).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from array import array
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from typing import Any

from gateway.bench.baseline import _client
from gateway.bench.common import BenchClock
from gateway.errors import TransportError

__all__ = ["Paced", "fix_payload", "start_paced"]

# Unacknowledged publishes kept in flight: as the load publisher does.
_INFLIGHT = 500


def fix_payload(when: datetime, lat: float, lon: float) -> bytes:
    """A gateway-JSON fix at ``when``."""
    payload = {
        "time": when.isoformat().replace("+00:00", "Z"),
        "lat": round(lat, 7),
        "lon": round(lon, 7),
        "accuracy_m": 8,
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def _publish_paced(
    url: str,
    round_: Sequence[tuple[str, float, float]],
    count: int,
    rate_per_s: float,
    clock_state: tuple[datetime, float, float],
    timeout_s: float,
) -> bytes:
    """Publish ``count`` fixes at ``rate_per_s``, the k-th from ``round_[k % len(round_)]``
    (``(topic, lat, lon)``); the perf_counter time of each, as an ``array('d')``'s bytes."""
    clock = BenchClock.from_state(clock_state)
    client = _client(url, f"bench-paced-{os.getpid()}", _INFLIGHT)
    acked = threading.Semaphore(0)
    client.on_publish = lambda *_args: acked.release()
    client.loop_start()
    sent = array("d")
    try:
        began = time.perf_counter()
        for index in range(count):
            topic, lat, lon = round_[index % len(round_)]
            due = began + index / rate_per_s
            wait = due - time.perf_counter()
            if wait > 0.001:
                time.sleep(wait)
            sent.append(time.perf_counter())
            client.publish(topic, fix_payload(clock.now(), lat, lon), qos=1)
        # paho's queue drains as PUBACKs come back: every one before disconnecting.
        deadline = time.perf_counter() + timeout_s
        for _ in range(count):
            if not acked.acquire(timeout=max(0.0, deadline - time.perf_counter())):
                raise TransportError(f"the broker did not acknowledge every fix in {timeout_s} s")
    finally:
        client.disconnect()
        client.loop_stop()
    return sent.tobytes()


class Paced:
    """A paced publish under way: ``result()`` gives the publish times once all are out."""

    def __init__(self, pool: ProcessPoolExecutor, future: Future[bytes]) -> None:
        self._pool = pool
        self._future = future

    def result(self, timeout_s: float | None = None) -> array[float]:
        try:
            sent = array("d")
            sent.frombytes(self._future.result(timeout=timeout_s))
            return sent
        finally:
            self._pool.shutdown()


def start_paced(
    url: str,
    round_: Sequence[tuple[str, float, float]],
    count: int,
    rate_per_s: float,
    clock: BenchClock,
    timeout_s: float = 600.0,
) -> Paced:
    """Start publishing ``count`` fixes, ``round_`` over and over (see ``_publish_paced``), in
    a spawned process (not forked: this process runs paho threads)."""
    if rate_per_s <= 0:
        raise ValueError("rate must be positive")
    if count > 0 and not round_:
        raise ValueError("fixes to send need at least one device to send them")
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    args: Any = (url, list(round_), count, rate_per_s, clock.state(), timeout_s)
    return Paced(pool, pool.submit(_publish_paced, *args))
