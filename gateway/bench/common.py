"""What the benchmark scenarios share: the bench clock, a roster written in bulk, machine facts,
percentiles, the process's memory, and a watcher of the pipeline's stored count.

The roster is written straight into the configuration tables with set-based inserts: the site
loader validates every entry one by one, which is right for a site file a person wrote and slow
for 100,000 generated guards (``roster_seconds`` in each result says what the bulk write took).
Wall time is read with ``time.perf_counter``/``time.monotonic``: measuring is the bench's job;
the gateway itself only ever reads the ``BenchClock`` it is given.
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from drivers.mqtt.ingest_process import IngestProcess
from gateway.bootstrap import Gateway
from gateway.clock import utc
from gateway.db.base import Base
from gateway.db.engine import make_engine
from gateway.db.models import DeviceRow, GuardRow, PostRow, ShiftRow, SiteRow
from gateway.db.schema import create_schema
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.counters import PipelineCounters

__all__ = [
    "ORIGIN_LAT",
    "ORIGIN_LON",
    "BenchClock",
    "Roster",
    "StoredWatcher",
    "bench_database",
    "clear_bench",
    "device_id",
    "ingest_pids",
    "machine_facts",
    "percentiles",
    "post_centre",
    "require_empty",
    "rss_mb",
    "write_roster",
]

ORIGIN_LAT, ORIGIN_LON = 30.5928, 114.3055
SPACING_M = 200.0
POST_RADIUS_M = 40.0
_ROWS_PER_INSERT = 5000


class BenchClock:
    """Gateway time that runs with the wall (times ``rate``) from ``start`` and can jump ahead.

    Work that takes real time therefore shows as lateness against a deadline, as on a real
    clock, while a bench can still skip the quiet minutes before the moment it measures.
    """

    def __init__(self, start: datetime, rate: float = 1.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._base = utc(start)
        self._t0 = time.monotonic()
        self._rate = rate
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        return self._rate

    def now(self) -> datetime:
        with self._lock:
            return self._base + timedelta(seconds=(time.monotonic() - self._t0) * self._rate)

    def state(self) -> tuple[datetime, float, float]:
        """``(start, monotonic origin, rate)``: enough for another process on this machine to
        read the same time (``time.monotonic`` is the system's, not the process's, on Linux)."""
        with self._lock:
            return self._base, self._t0, self._rate

    @classmethod
    def from_state(cls, state: tuple[datetime, float, float]) -> BenchClock:
        clock = cls(state[0], state[2])
        clock._t0 = state[1]
        return clock

    def jump(self, when: datetime) -> None:
        """Go on from ``when`` (not earlier than now), still running with the wall."""
        target = utc(when)
        with self._lock:
            now = self._base + timedelta(seconds=(time.monotonic() - self._t0) * self._rate)
            if target < now:
                raise ValueError("a clock does not go backwards")
            self._base, self._t0 = target, time.monotonic()


def device_id(index: int) -> str:
    return f"bench-{index:06d}"


def post_centre(index: int) -> tuple[float, float]:
    """Posts on a grid 200 m apart, 300 to a row (100,000 posts span 67 km north)."""
    side = 300
    north_m, east_m = (index // side) * SPACING_M, (index % side) * SPACING_M
    lat = ORIGIN_LAT + north_m / 111_320.0
    lon = ORIGIN_LON + east_m / (111_320.0 * math.cos(math.radians(ORIGIN_LAT)))
    return lat, lon


@dataclass(frozen=True)
class Roster:
    """What ``write_roster`` stored: guard ``i`` wears ``device_id(i)`` and stands at
    ``post_of[i]``; ``shift_ids[i]`` is his shift."""

    guards: int
    posts: int
    post_of: tuple[int, ...]
    shift_ids: tuple[str, ...]
    seconds: float


def write_roster(
    engine: Engine,
    *,
    guards: int,
    starts: Sequence[datetime],
    hours: float = 12.0,
    posts: int | None = None,
    policy: dict[str, Any] | None = None,
    loaded_at: datetime,
) -> Roster:
    """Store one site with ``posts`` circular posts (default: one per guard), ``guards`` guards
    with one GPS terminal each, and one shift per guard starting at ``starts[i]``, in one
    transaction. ``policy`` overrides ``SitePolicy`` fields for the site."""
    if len(starts) != guards:
        raise ValueError("one shift start per guard")
    n_posts = guards if posts is None else posts
    if n_posts < 1:
        raise ValueError("at least one post")
    began = time.perf_counter()
    post_of = tuple(i * n_posts // guards for i in range(guards)) if guards else ()
    shift_ids = tuple(
        f"bench:g-{i:06d}:{utc(starts[i]).strftime('%Y%m%dT%H%M%S')}" for i in range(guards)
    )
    with Session(engine) as session, session.begin():
        session.execute(
            insert(SiteRow),
            [
                {
                    "id": "bench",
                    "name": "benchmark site",
                    "timezone": "UTC",
                    "policy": policy or {},
                    "roster": [],
                    "source_digest": "0" * 64,
                    "loaded_at": loaded_at,
                }
            ],
        )
        _bulk(session, PostRow, (_post(i) for i in range(n_posts)))
        _bulk(
            session,
            GuardRow,
            (
                {
                    "id": f"g-{i:06d}",
                    "site_id": "bench",
                    "name": f"guard {i}",
                    "team": "bench",
                    "leader_ids": [],
                    "contacts": {},
                }
                for i in range(guards)
            ),
        )
        _bulk(
            session,
            DeviceRow,
            (
                {"id": device_id(i), "site_id": "bench", "kind": "gps", "guard_id": f"g-{i:06d}"}
                for i in range(guards)
            ),
        )
        _bulk(
            session,
            ShiftRow,
            (
                {
                    "id": shift_ids[i],
                    "site_id": "bench",
                    "guard_id": f"g-{i:06d}",
                    "post_id": f"p-{post_of[i]:06d}",
                    "starts_at": utc(starts[i]),
                    "ends_at": utc(starts[i]) + timedelta(hours=hours),
                }
                for i in range(guards)
            ),
        )
    return Roster(guards, n_posts, post_of, shift_ids, time.perf_counter() - began)


def _post(index: int) -> dict[str, Any]:
    lat, lon = post_centre(index)
    return {
        "id": f"p-{index:06d}",
        "site_id": "bench",
        "name": f"post {index}",
        "kind": "fixed",
        "fence": {"type": "Circle", "center": [lon, lat], "radius_m": POST_RADIUS_M},
        "datum": "wgs84",
    }


def _bulk(session: Session, model: Any, rows: Any) -> None:
    """``INSERT`` in chunks (executemany), so 100,000 rows never sit in memory twice."""
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _ROWS_PER_INSERT:
            session.execute(insert(model), chunk)
            chunk = []
    if chunk:
        session.execute(insert(model), chunk)


_BENCH_TABLES = (
    "positions",
    "presence_states",
    "patrol_states",
    "attendance_states",
    OutboxRow.__tablename__,
    "alerts",
    "shifts",
    "devices",
    "guards",
    "posts",
    "sites",
)


def require_empty(engine: Engine) -> None:
    """Refuse (``RuntimeError``) a database that already holds a site, a position or an outbox
    row: the bench writes its own roster and empties what it wrote afterwards, which must never
    touch real data."""
    with engine.connect() as conn:
        for table, what in (("sites", "sites"), ("positions", "positions"), ("outbox", "events")):
            if conn.scalar(select(func.count()).select_from(Base.metadata.tables[table])):
                raise RuntimeError(f"the bench needs an empty database: this one holds {what}")


def clear_bench(engine: Engine) -> None:
    """Empty the tables a bench leg filled (in a database ``require_empty`` accepted).

    On PostgreSQL the tables no foreign key points at are truncated first, so deleting the
    posts, guards and sites after checks them against empty tables, not against 100,000 rows
    deleted in the same transaction. (Before the foreign keys to posts were indexed, migration
    0014, that check read the whole table for each post: the clean-up after a 100,000-guard
    leg ran for more than six minutes.)"""
    tables = [Base.metadata.tables[name] for name in _BENCH_TABLES]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            referred = {
                fk.column.table.name for t in Base.metadata.sorted_tables for fk in t.foreign_keys
            }
            leaves = [t for t in tables if t.name not in referred]
            quoted = ", ".join(conn.dialect.identifier_preparer.format_table(t) for t in leaves)
            conn.execute(text(f"TRUNCATE {quoted}"))
            tables = [t for t in tables if t.name in referred]
        for table in tables:
            conn.execute(table.delete())


@contextmanager
def bench_database(url: str) -> Iterator[Engine]:
    """An engine on ``url`` with the schema created, refused unless empty (``require_empty``);
    what the bench wrote there is deleted on leaving, and only then."""
    engine = make_engine(url)
    try:
        create_schema(engine)
        require_empty(engine)
    except BaseException:
        engine.dispose()
        raise
    try:
        yield engine
    finally:
        clear_bench(engine)
        engine.dispose()


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
