"""What the pipeline remembers between batches: the roster and the presence rules' states.

One ``PipelineMemory`` is shared by the stages that need it and by the read-only views (the
``/whereabouts`` page); it belongs to the pipeline's owner thread, so it needs no lock. It is a
cache of the database: ``reload`` rebuilds the roster and the states from the committed rows;
``refresh`` takes a roster read again and keeps the states it holds.
Every change a batch makes to it is recorded in its ``journal`` (``gateway.pipeline.journal``),
so a failed transaction takes memory back to where it was when the batch began.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.models import AlertRow, PresenceStateRow, ShiftRow
from gateway.pipeline.deadline_queue import PRESENCE, DeadlineQueue, ScheduledDict, ShiftStarts
from gateway.pipeline.duty import DutyIndex
from gateway.pipeline.duty_load import load_duties
from gateway.pipeline.journal import Journal, JournaledDict, JournaledSet
from gateway.pipeline.live_view import LastFix, last_change, newest_fixes
from gateway.pipeline.roster_window import in_window
from gateway.pipeline.window_states import drop_gone, refresh_machines
from gateway.rules import PresenceState
from gateway.rules.alarms import SosEpisodes
from gateway.rules.events import ALERT_SOS
from gateway.rules.holds import unwatched_before

__all__ = ["LastFix", "PipelineMemory"]

K = TypeVar("K")
V = TypeVar("V")


@dataclass(slots=True, eq=False)
class PipelineMemory:
    """The in-memory state every batch starts from.

    ``duties`` is replaced (never mutated) by ``reload``, so a stage reads it through this object
    on every batch rather than keeping its own reference. ``presence`` holds the presence
    machines of open shifts; ``stored`` the shift ids that already have a saved state row (the
    save updates those and inserts the others). ``last_fix``, ``presence_since`` and
    ``reader_alerts`` are not saved: they feed the live view and the reader-state commands.
    ``reload`` rebuilds the first two for the shifts under way from the stored positions and
    the saved states (``gateway.pipeline.live_view``), so a guard whose terminal stays quiet
    after a restart keeps his place and time on the live page; a reader's open alert is read
    from the database when the reader next reports its state (``ReportReaderState``).

    ``deadlines`` holds the next deadline of every machine (presence here, patrol and
    attendance in their stage's ``machines``), kept by the maps themselves; ``starts`` is the
    cursor over the roster's shifts in start order (``gateway.pipeline.deadline_queue``).

    What bounds each map: ``presence``, ``stored`` and ``presence_since`` (keyed by shift) are
    re-read or pruned to the roster window (four days of shifts) at every reload, and closed
    machines leave ``presence`` when saved; ``last_fix`` is keyed by guard, ``reader_alerts``
    and ``sos`` by device: bounded by the site files.
    """

    journal: Journal = field(default_factory=Journal)
    """The undo log every container below records its changes in during a transaction."""
    duties: DutyIndex = field(default_factory=lambda: DutyIndex([], {}, {}, {}))
    presence: dict[str, PresenceState] = field(init=False)
    stored: set[str] = field(init=False)
    last_fix: dict[str, LastFix] = field(init=False)
    """Guard id → his newest accepted fix."""
    presence_since: dict[str, datetime] = field(init=False)
    """Shift id → time of its last arrival, departure or return."""
    reader_alerts: dict[str, str] = field(init=False)
    """Device id → key of the open ``alert.device_silent`` of a reader that lost its device."""
    sos: SosEpisodes = field(default_factory=SosEpisodes)
    """Each terminal's SOS emergency under way (re-seeded from the open SOS alerts)."""
    deadlines: DeadlineQueue = field(init=False)
    starts: ShiftStarts = field(init=False)
    watching_since: datetime | None = None
    """When this process began watching its guards (its start): a machine started later for a
    shift that began before it was not watched in between
    (``gateway.rules.holds.unwatched_before``)."""
    joined: dict[str, datetime] = field(default_factory=dict)
    """Guard id → when a change of partitions brought him into this process's scope after its
    start (taken over from a process that died or gave him back): watched from then on."""

    def __post_init__(self) -> None:
        self.deadlines = DeadlineQueue(self.journal)
        self.starts = ShiftStarts(self.journal)
        self.presence = self._presence_map()
        self.stored = JournaledSet(self.journal)
        self.last_fix = JournaledDict(self.journal)
        self.presence_since = JournaledDict(self.journal)
        self.reader_alerts = JournaledDict(self.journal)

    def _presence_map(
        self, items: dict[str, PresenceState] | None = None
    ) -> JournaledDict[str, PresenceState]:
        return ScheduledDict(
            self.journal,
            self.deadlines,
            PRESENCE,
            lambda _shift, state: state.next_deadline,
            (items or {}).items(),
        )

    def dict_of(self, items: dict[K, V] | None = None) -> dict[K, V]:
        """A new container of memory whose changes are journaled (for the stages' own state)."""
        return JournaledDict(self.journal, (items or {}).items())

    def sos_for_change(self) -> SosEpisodes:
        """``sos``, about to be changed: the first time in a transaction, the episodes as they
        were are kept to be put back if it fails (a handful: only terminals in an emergency)."""
        if self.journal.first_touch((id(self), "sos")):
            before = copy.deepcopy(self.sos)
            self.journal.record(lambda: setattr(self, "sos", before))
        return self.sos

    def watched_since(self, guard_id: str) -> datetime | None:
        """Since when this process watches ``guard_id``: since it came into its scope after
        the start, else since the start (``None`` before the first load)."""
        return self.joined.get(guard_id, self.watching_since)

    def reload(
        self,
        session: Session,
        now: datetime,
        *,
        at_start: bool = False,
        scope: Callable[[str], bool] | None = None,
    ) -> None:
        """Re-read the roster around ``now`` and the saved states of its open shifts.

        ``at_start``: the process is starting, or its scope changed (partitions taken or given
        back). Nothing here watched the states of the guards new to it between their last step
        and ``now``; each is told so (``unwatched_from``/``unwatched_until``), and a deadline
        that came due meanwhile fires ``late`` whichever input reaches it first. The guards it
        held already were watched all along: their deadlines fire on time, not held for a
        backlog that the broker keeps for the partitions taken over only.
        ``scope``: only the shifts of the guards it accepts (those of this process's partitions).
        The live view's last fix of each guard on duty and the time of each shift's last
        arrival, departure or return are read back too where memory has none.
        """
        before = self.duties
        self.duties = load_duties(session, now, scope=scope)
        if at_start and self.watching_since is None:
            self.watching_since = now
        elif at_start:
            # A change of partitions: the guards held before stay watched since they were.
            kept = before.guard_ids()
            self.joined = {
                guard: self.joined[guard] if guard in kept else now
                for guard in self.duties.guard_ids()
                if guard not in kept or guard in self.joined
            }
        self.reseed_sos(session)
        # Only the states of the window's shifts: a reload costs the same after a year.
        rows = session.execute(
            select(PresenceStateRow.shift_id, PresenceStateRow.state)
            .join(ShiftRow, ShiftRow.id == PresenceStateRow.shift_id)
            .where(in_window(now))
        ).all()
        self.stored = JournaledSet(
            self.journal, (r.shift_id for r in rows if self.duties.duty(r.shift_id) is not None)
        )
        # Every deadline is scheduled again from the states read (patrol and attendance by
        # their stage's reload, which follows).
        self.deadlines.clear()
        presence: dict[str, PresenceState] = {}
        for row in rows:
            duty = self.duties.duty(row.shift_id)
            if duty is None or row.state.get("closed"):
                continue
            state = PresenceState.from_json(row.state)
            if at_start and (watched := self.watched_since(duty.guard_id)) is not None:
                state = unwatched_before(state, watched)
            presence[row.shift_id] = state
        self.presence = self._presence_map(presence)
        since = {k: v for k, v in self.presence_since.items() if self.duties.duty(k) is not None}
        for shift_id, state in presence.items():
            if shift_id not in since and (changed := last_change(state)) is not None:
                since[shift_id] = changed
        self.presence_since = JournaledDict(self.journal, since.items())
        # What was heard before this process started (or before a guard came into its scope).
        for guard_id, fix in newest_fixes(session, now, self.duties).items():
            held = self.last_fix.get(guard_id)
            if held is None or held.fix_time < fix.fix_time:
                self.last_fix[guard_id] = fix

    def refresh(self, session: Session, duties: DutyIndex) -> list[str]:
        """Take ``duties``, the roster read again around a later now (``load_duties`` with
        ``previous=self.duties``, the same scope), keeping the machines in memory: they are
        the truth, each saved in the transaction that changed it. The machines of shifts gone
        from the window leave; the saved states of shifts new to it are read (a shift enters
        the window two days before its start, so it rarely has one). Returns the new shifts'
        ids, for the other stages' ``refresh``. Outside any transaction.

        Unlike ``reload``, no state of a shift already held is read again: parsing a city's
        100,000 states every few minutes stalled the pipeline for seconds each time and left
        the process's resident memory a few hundred megabytes higher."""
        old = self.duties
        self.duties = duties
        self.reseed_sos(session)
        new = [d.shift_id for d in duties.by_start if old.duty(d.shift_id) is None]
        saved = refresh_machines(
            session,
            self.presence,
            duties,
            new,
            key=PresenceStateRow.shift_id,
            shift_id=PresenceStateRow.shift_id,
            state=PresenceStateRow.state,
            shift_of=lambda shift, _state: shift,
            parse=PresenceState.from_json,
        )
        self.stored.update(saved)
        drop_gone(self.presence_since, duties, lambda shift, _since: shift)
        for shift in [s for s in self.stored if duties.duty(s) is None]:
            self.stored.discard(shift)
        return new

    def reseed_sos(self, session: Session) -> None:
        """Seed the SOS episodes again from the open SOS alerts (outside any transaction): one
        resolved meanwhile, here or by an API call to another process, ends its episode, and
        an SOS still pressed after that raises a new alert."""
        sos = SosEpisodes()
        open_sos = session.scalars(
            select(AlertRow).where(AlertRow.type == ALERT_SOS, AlertRow.status != "resolved")
        )
        for alert in open_sos:
            device_id = alert.data.get("device_id")
            if isinstance(device_id, str):
                sos.seed(device_id, alert.opened_at, alert.alert_key)
        sos.carry_over(self.sos)
        self.sos = sos
