"""What the benchmark scenarios measure with: the machine's facts, percentiles, the processes'
memory, and a watcher of the pipeline's settled count. Wall time (``time.perf_counter``) is
the bench's to read: the gateway itself only ever reads the clock it is given.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import threading
import time
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from drivers.mqtt.ingest_process import IngestProcess
from gateway.lifecycle import Gateway
from gateway.pipeline.counters import PipelineCounters

__all__ = ["StoredWatcher", "ingest_pids", "machine_facts", "percentiles", "rss_mb"]


def machine_facts(database_url: str) -> dict[str, Any]:
    """Cores, Python, platform and database kind, and the load when the run began (the machine
    may be shared)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(terse=True),
        "database": database_url.split(":", 1)[0].split("+", 1)[0],
        "load_average_1m": round(load[0], 2),
    }


def rss_mb(also: Sequence[int] = ()) -> dict[str, float | None]:
    """Resident memory now and at its peak, in MB, of this process and of the processes ``also``
    (a gateway's MQTT ingest process: ``ingest_pids``), summed; the peak is the sum of each
    one's peak, an upper bound of the peak of the sum. ``None`` off Linux."""
    values: dict[str, float | None] = {"rss_mb": None, "peak_rss_mb": None}
    for pid in ("self", *map(str, also)):
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as status:
                for line in status:
                    key, _, rest = line.partition(":")
                    if key in ("VmRSS", "VmHWM"):
                        name = "rss_mb" if key == "VmRSS" else "peak_rss_mb"
                        values[name] = round((values[name] or 0.0) + int(rest.split()[0]) / 1024, 1)
        except OSError:
            pass
    return values


def ingest_pids(gateway: Gateway) -> list[int]:
    """The process id of ``gateway``'s MQTT ingest process, when it runs one."""
    ingest = gateway.ingest
    if isinstance(ingest, IngestProcess) and ingest.process_id is not None:
        return [ingest.process_id]
    return []


def percentiles(values: Sequence[float], digits: int = 3) -> dict[str, float | None]:
    """p50, p99 and max (nearest rank) of ``values``; ``None`` each when there are none."""
    if not values:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {
        "p50": round(rank(0.50), digits),
        "p99": round(rank(0.99), digits),
        "max": round(ordered[-1], digits),
    }


class StoredWatcher:
    """Samples the pipeline's count of settled fixes (stored or dropped) every ``interval_s``
    on its own thread, so the k-th fix published can be matched with the moment the k-th was
    settled (one publisher keeps them in order through the broker and the pipeline)."""

    def __init__(self, counters: PipelineCounters, interval_s: float = 0.002) -> None:
        self._counters = counters
        self._interval_s = interval_s
        # Arrays, not lists: a long run samples hundreds of thousands of times, and the bench's
        # resident memory is read as the gateway's.
        self.times = array("d")
        self.counts = array("q")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-watch", daemon=True)

    def settled(self) -> int:
        snapshot = self._counters.snapshot()
        dropped = sum(v for k, v in snapshot.items() if k.startswith("dropped."))
        return snapshot.get("fixes.stored", 0) + dropped

    def start(self) -> StoredWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(5)

    def wait_for(self, count: int, stall_s: float = 300.0) -> bool:
        """Block until ``count`` fixes are settled; ``False`` when none settled for
        ``stall_s`` seconds before that."""
        seen, changed = -1, time.perf_counter()
        while (done := self.settled()) < count:
            if done != seen:
                seen, changed = done, time.perf_counter()
            elif time.perf_counter() - changed > stall_s:
                return False
            time.sleep(0.02)
        return True

    def settled_at(self, count: int) -> float | None:
        """The first sampled time at which ``count`` fixes were settled."""
        index = bisect_left(self.counts, count)
        return self.times[index] if index < len(self.times) else None

    def _run(self) -> None:
        last = -1
        while not self._stop.is_set():
            done = self.settled()
            if done != last:
                self.times.append(time.perf_counter())
                self.counts.append(done)
                last = done
            time.sleep(self._interval_s)
