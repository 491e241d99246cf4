"""The periodic roster refresh, in two halves: the roster is *read* beside the pipeline and
*adopted* between two of its batches.

Reading the roster of a city (100,000 shifts with their guards, devices and posts) takes
seconds of interpreter time. On the pipeline's own thread that was a stall every few minutes:
no fix stored, no deadline fired, for as long as the read took. ``read_roster`` may run on
any thread (the runtime's ``roster-reader``): it expands the roster lines in a transaction of
its own and builds a new ``DutyIndex`` from the rows, lending it the fences of unchanged
sites. ``adopt_roster`` runs on the pipeline's owner thread, outside any transaction: it hands
the index to the memory and the patrol and attendance machines, which keep the machines they
hold and read only the saved states of shifts new to the window (a few, each time). The
interpreter lock still lets one thread run at a time, so the read slows the pipeline while it
lasts instead of stopping it.

A read made against an index the memory has replaced since (a full reload came between: a
rescope, a memory in doubt) is not adopted; the next period reads again. Nor is the roster read
at all when its fingerprint has not moved (``gateway.pipeline.roster_window.roster_fingerprint``:
the sites' loads, and the count, earliest end and latest start of the window's shifts): guards
on a few shift times a day change the window a few times a day, not every few minutes. Then
only the SOS emergencies are seeded again from the open SOS alerts, as every refresh did.

A site load is what a leader waits for (a guard moved to another post, a guard added), so the
reader also checks, every few seconds, only whether a site was loaded since the roster held
was read (``quick``: its sites' ``loaded_at``, one row per site), and reads the roster at
once when one was. The full check, whose fingerprint aggregates every shift of the window
(0.7 s at 500,000 shifts on SQLite), stays at its period: what it alone sees (another
process's expansion, the window moving on) is not waited for by anyone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import Clock
from gateway.db.models import SiteRow
from gateway.pipeline.counters import PipelineCounters
from gateway.pipeline.duty import DutyIndex
from gateway.pipeline.duty_load import load_duties
from gateway.pipeline.housekeeping import Housekeeping
from gateway.pipeline.memory import PipelineMemory
from gateway.pipeline.patrol_stage import PatrolStage
from gateway.pipeline.roster_window import roster_fingerprint
from gateway.site.extend import ExtensionKey, extend_shifts, extension_key

__all__ = [
    "ExtensionMemo",
    "RosterRead",
    "RosterReader",
    "adopt_roster",
    "extend_roster",
    "read_roster",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RosterRead:
    """A roster read around a later now, and the index it was read against."""

    previous: DutyIndex
    duties: DutyIndex

    @property
    def unchanged(self) -> bool:
        """Whether nothing was read: the roster held still stands."""
        return self.duties is self.previous


class ExtensionMemo:
    """The ``extension_key`` of the last expansion of the roster lines: expanding them again
    is skipped until a site is loaded again or a site's local day moves on. ``lock`` is held
    through an expansion: the reader thread and a full reload on the owner thread expand one
    at a time, and the second finds the key the first left."""

    def __init__(self) -> None:
        self.key: ExtensionKey | None = None
        self.lock = threading.Lock()


def extend_roster(engine: Engine, clock: Clock, memo: ExtensionMemo) -> datetime:
    """Expand every site's roster lines around now (idempotent, its own transaction), so a
    gateway running for weeks never runs out of shifts; returns that now. Skipped when
    ``memo`` says nothing it depends on moved: at 100,000 guards the expansion reads every
    shift of the days around, and doing so every five minutes for nothing left the resident
    memory tens of megabytes higher each time."""
    now = clock.now()
    with memo.lock, Session(engine) as session:
        with session.begin():
            key = extension_key(session, now)
            if key == memo.key:
                return now
            added = extend_shifts(session, now)
        memo.key = key
    if added:
        log.info("roster extended by %d shifts", added)
    return now


def read_roster(
    engine: Engine,
    clock: Clock,
    memory: PipelineMemory,
    scope: Callable[[str], bool] | None,
    memo: ExtensionMemo,
    *,
    quick: bool = False,
) -> RosterRead | None:
    """Expand the roster lines and read the roster around now for ``scope``'s guards. When
    its fingerprint (``roster_fingerprint``) says it is the one held, nothing is read and the
    result holds that one (``unchanged``). ``quick``: only if a site was loaded since the
    roster held was read, else ``None`` (nothing to adopt). Any thread: it reads
    ``memory.duties`` (an immutable index) and changes nothing in memory."""
    previous = memory.duties
    if quick and previous.fingerprint is not None:
        with Session(engine) as session:
            rows = session.execute(select(SiteRow.id, SiteRow.loaded_at))
            loaded = {site_id: loaded_at for site_id, loaded_at in rows}
        if loaded == previous.site_versions:
            return None
    now = extend_roster(engine, clock, memo)
    with Session(engine) as session:
        if previous.fingerprint is not None and previous.fingerprint == roster_fingerprint(
            session, now
        ):
            return RosterRead(previous, previous)
        duties = load_duties(session, now, scope=scope, previous=previous)
    # Compared here, beside the pipeline, so that adopting it looks only at those machines.
    ends_moved: set[str] = set()
    limits_changed: set[str] = set()
    devices_changed: set[str] = set()
    # A site's limits are one object per index, shared by its shifts: compared once a pair.
    same_limits: dict[tuple[int, int, int, int], bool] = {}
    guards_changed = {d.guard_id for d in previous.by_start if duties.duty(d.shift_id) is None}
    for duty in duties.by_start:
        held = previous.duty(duty.shift_id)
        if held is None:
            guards_changed.add(duty.guard_id)
            continue
        if held.ends_at != duty.ends_at or held.cut_short != duty.cut_short:
            guards_changed.add(duty.guard_id)
        if held.ends_at != duty.ends_at:
            ends_moved.add(duty.shift_id)
        if (held.device_ids, held.wands, held.worn) != (duty.device_ids, duty.wands, duty.worn):
            devices_changed.add(duty.shift_id)
        pair = (id(held.policy), id(duty.policy), id(held.patrol_policy), id(duty.patrol_policy))
        same = same_limits.get(pair)
        if same is None:
            same = held.policy == duty.policy and held.patrol_policy == duty.patrol_policy
            same_limits[pair] = same
        if not same:
            limits_changed.add(duty.shift_id)
    duties.ends_moved = frozenset(ends_moved)
    duties.limits_changed = frozenset(limits_changed)
    duties.devices_changed = frozenset(devices_changed)
    duties.guards_changed = frozenset(guards_changed)
    return RosterRead(previous, duties)


def adopt_roster(
    engine: Engine, memory: PipelineMemory, patrol: PatrolStage, read: RosterRead
) -> bool:
    """Take ``read`` into memory, keeping the machines held (the owner thread, outside any
    transaction). ``False``, and nothing changed, when the memory's roster is no longer the
    one ``read`` was made against."""
    if memory.duties is not read.previous:
        return False
    with Session(engine) as session:
        if read.unchanged:
            # The roster stands; the emergencies are seeded again from the open SOS alerts,
            # as a reload would, so one resolved meanwhile (here or by another process) ends.
            memory.reseed_sos(session)
            return True
        new_shifts = memory.refresh(session, read.duties)
        patrol.refresh(session, new_shifts)
    return True


class RosterReader:
    """The ``roster-reader`` thread: every ``period_s`` of wall time (as the database retries
    are paced) it calls ``read(False)``, and every ``check_s`` in between ``read(True)`` (the
    ``quick`` check of ``read_roster``); it keeps the newest read in a one-slot hand-over,
    which the owner thread empties with ``take`` between two batches. A failing read is logged
    and backed off like the owner's housekeeping (``gateway.pipeline.housekeeping``)."""

    def __init__(
        self,
        read: Callable[[bool], RosterRead | None],
        period_s: float,
        counters: PipelineCounters,
        check_s: float | None = None,
    ) -> None:
        self._read = read
        self._period_s = period_s
        self._check_s = period_s if check_s is None else min(check_s, period_s)
        self._keeping = Housekeeping(counters)
        self._slot: RosterRead | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, stop: threading.Event) -> None:
        """Read every period until ``stop`` is set."""
        self._thread = threading.Thread(
            target=self._loop, args=(stop,), name="roster-reader", daemon=True
        )
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        """Wait for the thread to end (after its ``stop`` was set)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def take(self) -> RosterRead | None:
        """The newest read not taken yet, if any (the owner thread)."""
        with self._lock:
            read, self._slot = self._slot, None
        return read

    def _loop(self, stop: threading.Event) -> None:
        last_full = time.monotonic()
        while not stop.wait(self._check_s):
            quick = time.monotonic() - last_full < self._period_s
            if not quick:
                last_full = time.monotonic()
            self._keeping.run(partial(self._read_once, quick))

    def _read_once(self, quick: bool) -> None:
        read = self._read(quick)
        if read is not None:
            with self._lock:
                self._slot = read
