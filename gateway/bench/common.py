"""What the benchmark scenarios share: the bench clock and a roster written in bulk (what they
measure with is in ``gateway.bench.measures``).

The roster is written straight into the configuration tables with set-based inserts: the site
loader validates every entry one by one, which is right for a site file a person wrote and slow
for 100,000 generated guards (``roster_seconds`` in each result says what the bulk write took).
Wall time is read with ``time.perf_counter``/``time.monotonic``: measuring is the bench's job;
the gateway itself only ever reads the ``BenchClock`` it is given.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from gateway.clock import utc
from gateway.db.base import Base
from gateway.db.engine import make_engine
from gateway.db.models import DeviceRow, GuardRow, PostRow, ShiftRow, SiteRow
from gateway.db.schema import create_schema
from gateway.outbox.tables import OutboxRow

__all__ = [
    "ORIGIN_LAT",
    "ORIGIN_LON",
    "BenchClock",
    "Roster",
    "bench_database",
    "clear_bench",
    "device_id",
    "post_centre",
    "require_empty",
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
