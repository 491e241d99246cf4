"""Patrol tours (巡更) as a pure state machine per route and guard shift.

``step(state, input, now, policy) -> (state, events)`` with inputs :class:`ScanObserved` (the
caller resolved tag → checkpoint), ``Tick``, ``ShiftEnded``, ``LeaveEntered`` and
``WandDownloaded``; the runtime persists the state with the events and ticks when
``now >= state.next_deadline``. Event types and their data are listed in
:mod:`gateway.rules.patrol_events`; the deadlines are :mod:`gateway.rules.patrol_deadlines`.

Decisions, in the terms of :class:`~gateway.rules.patrol_policy.PatrolPolicy`:

* Rounds and windows come from the route's schedule (:mod:`gateway.rules.patrol_plan`). A scan
  counts for a checkpoint of a round when it falls in ``[window start, window end + tolerance]``:
  on time up to the window's end, ``late`` after it. Where two rounds could take it, the one in
  which it is on time wins, then the earliest.
* ``alert.checkpoint_missed`` fires **on the clock at the window's end** when the checkpoint was
  not scanned, whether or not anything else arrives. A late scan within the tolerance resolves it.
  A window the guard spent entirely on an approved leave (``PatrolState.on_leave``) raises
  nothing: the checkpoint is **excused**, counted apart in the round's completion.
* A leave typed in after a window it spanned ran out (``LeaveEntered``), approved by then,
  withdraws the checkpoint's missed alert; a cancellation typed in later (``LeaveCancelled``)
  dated before an excused window ended raises it after all (``gateway.rules.patrol_leave``).
* Ordered routes: a scan is ``out_of_order`` when a checkpoint further along the route was
  already scanned in the round (the guard walked backwards). Skipping a checkpoint is not out
  of order: it is missed.
* ``patrol.round_completed`` when every checkpoint of the round is settled: at the last scan
  when all were scanned, otherwise when the last tolerance runs out (or at the last scan, if
  that came later). Its counts are final.
* A scan of a checkpoint not on the route is not this machine's business and yields nothing
  (the runtime may feed every scan at a post to every route of the post).
* A scan that counts for no round is still reported (``counted: false``, ``reason``
  ``repeat`` when the checkpoint was already scanned in a round that could have taken it,
  ``round_settled`` when made in a window of a round completed before it came, whose missed
  alert it withdraws (``patrol_wands.withdraw_scanned``), else ``outside_window``), except
  a read of the same checkpoint within ``scan_debounce_s`` of the previous one, which is the
  same scan again and yields nothing.
* Like the presence rules, deadlines due by a scan's device time fire before it is applied, so
  a scan uploaded late by an offline wand that belongs to a round already completed counts
  for nothing (it is reported ``round_settled`` or ``outside_window``, ``backfilled``).
* ``ShiftEnded`` (relieved early) completes the rounds already started with what they have
  (``ended_early``; checkpoints whose window had not ended count as ``not_due``) and drops the
  rest, at its ``ended_at`` when it is told after it (a cut made while the gateway was down):
  nothing that fell due after the cut is his.
* A shift whose scans come by offline wands is judged when they are downloaded, not on the
  clock: :mod:`gateway.rules.patrol_wands`.

Event times: a scan at its device time, a missed alert at the window's end, a completion at the
scan or deadline that settled it. ``backfilled`` as for presence; ``fired_late`` when a deadline
fired long after it was due (the gateway was down).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from gateway.clock import utc

from .entries import iso
from .events import BACKFILL_AFTER_S, LATE_AFTER_S, Json, RuleEvent, event_key
from .inputs import LeaveCancelled, ShiftEnded, Tick
from .patrol_deadlines import (
    CLOSE,
    SETTLE,
    PatrolDeadline,
    next_patrol_deadline,
    open_visits,
    pending,
    tolerance,
)
from .patrol_events import (
    ALERT_CHECKPOINT_MISSED,
    PATROL_CHECKPOINT_SCANNED,
    PATROL_ROUND_COMPLETED,
    ScanObserved,
    round_counts,
)
from .patrol_leave import (
    LeaveEntered,
    cancellation_data,
    owed_again,
    scanned_window,
    withdraw_missed,
)
from .patrol_policy import PatrolPolicy
from .patrol_state import (
    MISSED_KEPT,
    CheckpointVisit,
    MissedCheckpoint,
    PatrolRound,
    PatrolState,
    episode_of,
)
from .patrol_wands import WandDownloaded, judged_on, withdraw_scanned

__all__ = ["PatrolInput", "next_patrol_deadline", "step"]

PatrolInput = ScanObserved | Tick | ShiftEnded | LeaveEntered | LeaveCancelled | WandDownloaded
"""Anything the patrol ``step`` accepts."""

_MAX_FIRINGS = 10_000


def step(
    state: PatrolState, event: PatrolInput, now: datetime, policy: PatrolPolicy
) -> tuple[PatrolState, list[RuleEvent]]:
    """Apply one input at clock time ``now``; return the new state and the events, in order.

    A closed state (its shift over) takes only a leave or a cancellation typed in afterwards
    (``gateway.rules.patrol_leave``), stays closed, and is returned unchanged otherwise.
    """
    now = utc(now)
    if state.closed and not isinstance(event, LeaveEntered | LeaveCancelled):
        return state, []
    run = _Run(state, now, policy)
    if isinstance(event, Tick):
        run.fire_due(now)
    elif isinstance(event, ScanObserved):
        at = utc(event.scanned_at)
        run.fire_due(min(at, now))
        if event.checkpoint_id in state.checkpoint_ids:
            run.scan(event, at)
    elif isinstance(event, ShiftEnded):
        # Told late (a site load that cut the shift while the gateway was down): what fell due
        # after the cut was not his.
        ended = now if event.ended_at is None else min(utc(event.ended_at), now)
        run.fire_due(ended)
        if state.wands:
            run.end_awaiting_download(ended)
        else:
            run.end_early(ended)
    elif isinstance(event, LeaveEntered):
        run.fire_due(now)
        run.state, withdrawn = withdraw_missed(run.state, event, now)
        run.events.extend(withdrawn)
    elif isinstance(event, LeaveCancelled):
        run.fire_due(now)
        run.state, owed = owed_again(run.state)
        for missed, position in owed:
            judged = judged_on(run.state, missed.window_end)
            run.alert_missed(missed, position, None, judged, cancellation_data(event, missed))
    elif isinstance(event, WandDownloaded):
        if event.wand_id in state.wands:
            run.state = state.with_download(event.wand_id, utc(event.at))
        run.fire_due(now)
    else:  # pragma: no cover - the union is exhaustive
        raise TypeError(f"not a patrol rule input: {event!r}")
    return (state, []) if state.closed and not run.events else run.finish()


class _Run:
    """One step's working state and events; ``step`` stays pure because nothing leaks out."""

    def __init__(self, state: PatrolState, now: datetime, policy: PatrolPolicy) -> None:
        self.state = state
        self.previous = state.stepped_at
        self.now = now
        self.policy = policy
        self.events: list[RuleEvent] = []

    def finish(self) -> tuple[PatrolState, list[RuleEvent]]:
        state = replace(
            self.state,
            next_deadline=next_patrol_deadline(self.state, self.policy),
            stepped_at=self.now,
        )
        return state, self.events

    def emit(
        self,
        type_: str,
        time: datetime,
        episode: str,
        data: dict[str, Json],
        *,
        due: datetime | None = None,
        alert: bool = False,
        resolves: tuple[str, ...] = (),
    ) -> str:
        state = self.state
        key = event_key(state.machine_id, type_, episode)
        fired_late = (
            due is not None
            and (self.now - due).total_seconds() > LATE_AFTER_S
            and (self.previous is None or due > self.previous)
        )
        old = (self.now - time).total_seconds() > BACKFILL_AFTER_S
        payload: dict[str, Json] = {
            "guard_id": state.guard_id,
            "post_id": state.post_id,
            "site_id": state.site_id,
            "shift_id": state.shift_id,
            "route_id": state.route_id,
            "detected_at": iso(self.now),
            "backfilled": fired_late or old,
            "fired_late": fired_late,
        }
        payload.update(data)
        self.events.append(
            RuleEvent(
                type=type_,
                time=time,
                key=key,
                data=payload,
                alert_key=key if alert else None,
                resolves=resolves,
            )
        )
        return key

    # -- deadlines ------------------------------------------------------------------------

    def fire_due(self, until: datetime) -> None:
        for _ in range(_MAX_FIRINGS):
            owed = pending(self.state, self.policy)
            if not owed or owed[0].due > until:
                return
            self._fire(owed[0])
        raise RuntimeError("patrol deadlines did not settle")  # pragma: no cover

    def _fire(self, deadline: PatrolDeadline) -> None:
        if deadline.kind == CLOSE:
            self.state = replace(self.state, closed=True)
            return
        rnd = next(r for r in self.state.rounds if r.started_at == deadline.round_start)
        # A decision a wand's download let fall is late by the wand, not by the gateway.
        due = None if self.state.wands else deadline.due
        if deadline.kind == SETTLE:
            # Settled when the last tolerance ran out, but not before the last scan it holds.
            last_scan = max((v.scanned_at for v in rnd.visits if v.scanned_at), default=None)
            at = deadline.point if last_scan is None else max(deadline.point, last_scan)
            ended = self.state.ended_at
            self._complete(
                rnd,
                at,
                due=None if due is None else at,
                ended_early=ended is not None and deadline.point >= ended,
                judged=judged_on(self.state, deadline.point),
            )
            return
        visit = next(v for v in rnd.visits if v.position == deadline.position)
        missed = MissedCheckpoint(
            rnd.started_at, visit.checkpoint_id, visit.window_start, visit.window_end
        )
        if self.state.excuses(visit):
            # He was on an approved leave for the whole window: the round's count says so.
            self._replace_round(rnd.with_visit(replace(visit, excused=True)))
            excused = (*self.state.excused_windows, missed)[-MISSED_KEPT:]
            self.state = replace(self.state, excused_windows=excused)
            return
        self._replace_round(rnd.with_visit(replace(visit, missed_alerted=True)))
        self.state = replace(self.state, missed=(*self.state.missed, missed)[-MISSED_KEPT:])
        self.alert_missed(missed, visit.position, due, judged_on(self.state, deadline.point))

    def alert_missed(
        self,
        missed: MissedCheckpoint,
        position: int,
        due: datetime | None,
        judged: str,
        more: dict[str, Json] | None = None,
    ) -> None:
        """Raise ``alert.checkpoint_missed`` for ``missed``, at its window's end."""
        data: dict[str, Json] = {
            "checkpoint_id": missed.checkpoint_id,
            "position": position,
            "round_start": iso(missed.round_start),
            "window_start": iso(missed.window_start),
            "window_end": iso(missed.window_end),
            "tolerance_s": self.policy.patrol_late_tolerance_s,
            "judged_on": judged,
        }
        data.update(more or {})
        self.emit(
            ALERT_CHECKPOINT_MISSED, missed.window_end, missed.episode, data, due=due, alert=True
        )

    # -- scans ----------------------------------------------------------------------------

    def scan(self, scan: ScanObserved, at: datetime) -> None:
        previous = self.state.last_scan(scan.checkpoint_id)
        if previous is not None and abs((at - previous).total_seconds()) <= (
            self.policy.scan_debounce_s
        ):
            return
        self.state = self.state.with_last_scan(scan.checkpoint_id, at)
        late_for = tolerance(self.policy)
        candidates, repeat = open_visits(self.state, scan.checkpoint_id, at, late_for)
        evidence: dict[str, Json] = {
            "checkpoint_id": scan.checkpoint_id,
            "reader_id": scan.reader_id,
            "tag_id": scan.tag_id,
            "scanned_at": iso(at),
            "received_at": iso(scan.received_at),
            "raw": scan.raw,
        }
        if not candidates:
            # Made in a window of a round completed before it came (a wand downloaded late)?
            self.state, withdrawn = withdraw_scanned(
                self.state, scan.checkpoint_id, at, late_for, self.now, evidence
            )
            reason = "round_settled" if withdrawn else "repeat" if repeat else "outside_window"
            self.emit(
                PATROL_CHECKPOINT_SCANNED,
                at,
                f"{scan.checkpoint_id}@{iso(at)}",
                {
                    **evidence,
                    "counted": False,
                    "reason": reason,
                    "late": False,
                    "out_of_order": False,
                },
            )
            self.events.extend(withdrawn)
            return
        late, rnd, visit = candidates[0]
        out_of_order = self.state.ordered and rnd.furthest_position > visit.position
        visit = replace(
            visit, scanned_at=at, reader_id=scan.reader_id, late=late, out_of_order=out_of_order
        )
        rnd = replace(
            rnd.with_visit(visit), furthest_position=max(rnd.furthest_position, visit.position)
        )
        self._replace_round(rnd)
        episode = _episode(rnd, visit)
        resolves: tuple[str, ...] = ()
        self.state, alert = scanned_window(self.state, episode)
        if visit.missed_alerted:
            resolves = (event_key(self.state.machine_id, ALERT_CHECKPOINT_MISSED, alert),)
        self.emit(
            PATROL_CHECKPOINT_SCANNED,
            at,
            episode,
            {
                **evidence,
                "counted": True,
                "reason": None,
                "position": visit.position,
                "round_start": iso(rnd.started_at),
                "window_start": iso(visit.window_start),
                "window_end": iso(visit.window_end),
                "late": late,
                "late_by_s": max(0.0, (at - visit.window_end).total_seconds()),
                "out_of_order": out_of_order,
                "excused": visit.excused,
                "resolved_missed": bool(resolves),
            },
            resolves=resolves,
        )
        if all(v.scanned_at is not None for v in rnd.visits):
            self._complete(rnd, at, judged="download" if self.state.wands else "clock")
        else:
            # The others may have run out of tolerance already (this scan came in late).
            self.fire_due(min(at, self.now))

    # -- rounds ---------------------------------------------------------------------------

    def _replace_round(self, rnd: PatrolRound) -> None:
        rounds = tuple(rnd if r.started_at == rnd.started_at else r for r in self.state.rounds)
        self.state = replace(self.state, rounds=rounds)

    def _complete(
        self,
        rnd: PatrolRound,
        at: datetime,
        *,
        due: datetime | None = None,
        ended_early: bool = False,
        judged: str = "clock",
    ) -> None:
        self.state = replace(
            self.state,
            rounds=tuple(r for r in self.state.rounds if r.started_at != rnd.started_at),
            completed_rounds=self.state.completed_rounds + 1,
        )
        data = round_counts(rnd, at)
        data.update(ended_early=ended_early, judged_on=judged)
        self.emit(PATROL_ROUND_COMPLETED, at, iso(rnd.started_at), data, due=due)

    def end_early(self, ended: datetime) -> None:
        """A relief at ``ended``: the rounds begun by then complete with what they have."""
        for rnd in sorted(self.state.rounds, key=lambda r: r.started_at):
            if rnd.started_at <= ended:
                self._complete(rnd, ended, ended_early=True)
        self.state = replace(self.state, rounds=(), closed=True)

    def end_awaiting_download(self, ended: datetime) -> None:
        """A relief at ``ended`` of a shift walked with wands: the rounds begun stay until their
        downloads judge them, cut at the relief (told twice, the first relief stands)."""
        ended = self.state.ended_at or ended
        begun = tuple(r for r in self.state.rounds if r.started_at <= ended)
        self.state = replace(self.state, rounds=begun, ended_at=ended)
        self.fire_due(self.now)


def _episode(rnd: PatrolRound, visit: CheckpointVisit) -> str:
    return episode_of(rnd.started_at, visit.checkpoint_id)
