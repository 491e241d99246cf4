"""Rounds walked with an offline patrol wand (巡更棒): judged when the wand is downloaded.

A wand keeps its scans until a leader downloads it, at the end of a shift or the next
morning, so on the clock a round walked with one looks like a round nobody walked. A patrol
machine whose shift has wands (``PatrolState.wands``: the guard's own, those kept at his post)
therefore takes each decision at the **point** a live reader's round would have it settled,
but only once it can see that far:

* a checkpoint is judged at its window's end plus the tolerance (the last moment a scan of it
  counts, late), a round when the last of its unscanned checkpoints is;
* a download of every wand at or after the point (``PatrolState.logged_to``) means every scan
  made before it is in: the decision falls then, on what the scans show (``judged_on``
  ``download``), so a checkpoint scanned in its window is on time, in the tolerance late, and
  only one not scanned at all is missed;
* with no such download within ``wand_download_wait_s`` of the point, it falls then, on what is
  in (``judged_on`` ``wait_ran_out``); a scan downloaded later still counts while its round is
  under way, and resolves the missed alert as a late scan does; once its round is completed
  (the wand downloaded the next morning) the round keeps its counts, the scan counts for none
  (``reason`` ``round_settled``), and the missed alert of the checkpoint it shows scanned in
  its window or tolerance is withdrawn (``withdraw_scanned``);
* a relief (``ShiftEnded``) keeps the rounds begun by then until they are judged, cut at the
  relief (``PatrolState.ended_at``): a checkpoint whose window had not ended is not due, one
  whose window had is judged on the scans up to the relief.

The events are dated as on the clock (a missed alert at its window's end, a completion at its
point or its last scan), ``backfilled`` when the decision came long after, and never
``fired_late`` (the lateness is the wand's, not the gateway's). A machine without wands judges
on the clock as before (``judged_on`` ``clock``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .events import Json, RuleEvent
from .patrol_events import missed_withdrawn
from .patrol_policy import PatrolPolicy
from .patrol_state import PatrolState

__all__ = ["WandDownloaded", "judged_at", "judged_on", "told_of", "withdraw_scanned"]


@dataclass(frozen=True, slots=True)
class WandDownloaded:
    """The log of wand ``wand_id`` was downloaded at ``at`` (gateway time) and its scans are
    in: everything the wand read before ``at`` has been given to the machine."""

    wand_id: str
    at: datetime


def judged_at(state: PatrolState, policy: PatrolPolicy, point: datetime) -> datetime:
    """When the decision settled at ``point`` falls: at ``point`` on the clock, or once the
    wands' downloads cover it, else after the wait for them."""
    if not state.wands:
        return point
    logged = state.logged_to
    if logged is not None and logged >= point:
        return point
    return point + timedelta(seconds=policy.wand_download_wait_s)


def judged_on(state: PatrolState, point: datetime) -> str:
    """What a decision settled at ``point`` rests on: ``clock``, ``download`` or
    ``wait_ran_out`` (the ``judged_on`` of its event)."""
    if not state.wands:
        return "clock"
    logged = state.logged_to
    return "download" if logged is not None and logged >= point else "wait_ran_out"


def told_of(
    states: Iterable[PatrolState], downloads: Mapping[str, datetime]
) -> list[tuple[PatrolState, WandDownloaded]]:
    """Which of the open machines ``states`` to tell of ``downloads`` (``{wand id: downloaded
    at}``), and what: each a download of one of its wands newer than the one it knows. Telling
    again a machine that knows of that download already would cost a step for nothing."""
    told: list[tuple[PatrolState, WandDownloaded]] = []
    for state in states:
        if state.closed:
            continue
        known = dict(state.downloads)
        for wand in state.wands:
            at = downloads.get(wand)
            if at is not None and (known.get(wand) is None or known[wand] < at):
                told.append((state, WandDownloaded(wand, at)))
    return told


def withdraw_scanned(
    state: PatrolState,
    checkpoint_id: str,
    at: datetime,
    late_for: timedelta,
    now: datetime,
    evidence: Mapping[str, Json],
) -> tuple[PatrolState, list[RuleEvent]]:
    """``state`` without the missed alert of ``checkpoint_id`` that a scan made at ``at`` but
    brought only after its round was completed shows wrong (scanned in the window, or late
    within ``late_for``), and the ``alert.withdrawn`` of it, dated ``now`` (reason
    ``scanned_in_window``; ``late`` when in the tolerance). Nothing when no missed alert kept
    in the state covers ``at``. The round's counts stay as it gave them (they are final)."""
    missed = next(
        (
            m
            for m in state.missed
            if m.checkpoint_id == checkpoint_id and m.window_start <= at <= m.window_end + late_for
        ),
        None,
    )
    if missed is None:
        return state, []
    details: Json = {**evidence, "late": at > missed.window_end}
    withdrawn = missed_withdrawn(state, missed, "scanned_in_window", now, details)
    kept = tuple(m for m in state.missed if m is not missed)
    return replace(state, missed=kept), [withdrawn]
