"""The persisted state of one route's patrol machine over one shift, and its JSON form.

Only rounds not yet completed are kept (a completed round has reported its counts and can no
longer change), so the state stays small over a long shift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from gateway.clock import utc

from .entries import Leave, iso, opt_dt, opt_iso, to_dt
from .events import Json
from .patrol_plan import RoutePlan, round_starts

__all__ = [
    "CheckpointVisit",
    "MissedCheckpoint",
    "PatrolRound",
    "PatrolState",
    "episode_of",
    "leave_spans",
]

MISSED_KEPT = 64
"""Missed alerts kept in the state, newest last, for a leave entered later to withdraw; and as
many checkpoints a leave excused, for its cancellation typed in later to show missed."""

STATE_VERSION = 1
"""Bumped when the JSON form changes incompatibly; ``from_json`` refuses other versions."""


@dataclass(frozen=True, slots=True)
class CheckpointVisit:
    """One checkpoint in one round: its absolute window and what happened to it."""

    checkpoint_id: str
    position: int
    window_start: datetime
    window_end: datetime
    scanned_at: datetime | None = None
    reader_id: str | None = None
    late: bool = False
    out_of_order: bool = False
    missed_alerted: bool = False
    excused: bool = False
    """Its window ran out unscanned while the guard was on an approved leave: not missed."""

    def to_json(self) -> dict[str, Json]:
        return {
            "checkpoint_id": self.checkpoint_id,
            "position": self.position,
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
            "scanned_at": opt_iso(self.scanned_at),
            "reader_id": self.reader_id,
            "late": self.late,
            "out_of_order": self.out_of_order,
            "missed_alerted": self.missed_alerted,
            "excused": self.excused,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckpointVisit:
        reader = data["reader_id"]
        return cls(
            checkpoint_id=str(data["checkpoint_id"]),
            position=int(data["position"]),
            window_start=to_dt(data["window_start"]),
            window_end=to_dt(data["window_end"]),
            scanned_at=opt_dt(data["scanned_at"]),
            reader_id=None if reader is None else str(reader),
            late=bool(data["late"]),
            out_of_order=bool(data["out_of_order"]),
            missed_alerted=bool(data["missed_alerted"]),
            excused=bool(data.get("excused", False)),
        )


@dataclass(frozen=True, slots=True)
class PatrolRound:
    """A round not yet completed."""

    started_at: datetime
    visits: tuple[CheckpointVisit, ...]
    furthest_position: int = -1
    """Highest route position scanned so far in this round (ordered routes)."""

    def with_visit(self, visit: CheckpointVisit) -> PatrolRound:
        visits = tuple(visit if v.position == visit.position else v for v in self.visits)
        return replace(self, visits=visits)

    def to_json(self) -> dict[str, Json]:
        return {
            "started_at": iso(self.started_at),
            "visits": [v.to_json() for v in self.visits],
            "furthest_position": self.furthest_position,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PatrolRound:
        return cls(
            started_at=to_dt(data["started_at"]),
            visits=tuple(CheckpointVisit.from_json(v) for v in data["visits"]),
            furthest_position=int(data["furthest_position"]),
        )


def episode_of(round_start: datetime, checkpoint_id: str) -> str:
    """The episode (last part of the key) of a checkpoint's events in the round starting at
    ``round_start``."""
    return f"{iso(round_start)}/{checkpoint_id}"


@dataclass(frozen=True, slots=True)
class MissedCheckpoint:
    """A checkpoint's window that ran out unscanned, kept after its round completed: in
    ``PatrolState.missed``, an ``alert.checkpoint_missed`` raised and not resolved by a late
    scan, which a leave typed in later may show wrong; in ``PatrolState.excused_windows``, one
    a leave excused (on the clock, or by withdrawing its alert), which the leave's cancellation
    typed in later may show missed after all."""

    round_start: datetime
    checkpoint_id: str
    window_start: datetime
    window_end: datetime
    withdrawals: int = 0
    """How many missed alerts of this window were withdrawn: each alert raised again after one
    was withdrawn is a new alert, with an episode of its own (``episode``)."""

    @property
    def base_episode(self) -> str:
        """The episode of the window's first alert and of its scan (``episode_of``)."""
        return episode_of(self.round_start, self.checkpoint_id)

    @property
    def episode(self) -> str:
        """The episode of the window's alert raised now (the first, or one raised again)."""
        base = self.base_episode
        return base if self.withdrawals == 0 else f"{base}/again-{self.withdrawals}"

    def to_json(self) -> dict[str, Json]:
        return {
            "round_start": iso(self.round_start),
            "checkpoint_id": self.checkpoint_id,
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
            "withdrawals": self.withdrawals,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MissedCheckpoint:
        return cls(
            round_start=to_dt(data["round_start"]),
            checkpoint_id=str(data["checkpoint_id"]),
            window_start=to_dt(data["window_start"]),
            window_end=to_dt(data["window_end"]),
            withdrawals=int(data.get("withdrawals", 0)),
        )


@dataclass(frozen=True, slots=True)
class PatrolState:
    """The patrol machine of one route for one guard shift.

    Build it with :meth:`start`; advance it only with ``gateway.rules.patrol.step``.
    ``next_deadline`` is the earliest time a ``Tick`` may produce something (``None`` once every
    round is completed or the machine is closed). ``machine_id`` (``<shift id>/<route id>``)
    prefixes every event key.
    """

    shift_id: str
    route_id: str
    guard_id: str
    post_id: str
    site_id: str
    ordered: bool
    shift_end: datetime
    checkpoint_ids: tuple[str, ...]
    """The route's checkpoints in walking order."""
    rounds: tuple[PatrolRound, ...]
    next_deadline: datetime | None
    stepped_at: datetime | None = None
    closed: bool = False
    completed_rounds: int = 0
    last_scans: tuple[tuple[str, datetime], ...] = field(default=())
    """Per checkpoint, the device time of its latest scan (for debouncing)."""
    on_leave: tuple[tuple[datetime, datetime, datetime], ...] = field(default=())
    """The guard's approved leaves as ``[from, until)`` spans with their approval
    (``leave_spans``): a checkpoint whose whole window falls in one approved by the window's
    end is excused when it is judged unscanned, not missed."""
    missed: tuple[MissedCheckpoint, ...] = field(default=())
    """The missed alerts raised and not resolved by a late scan (at most ``MISSED_KEPT``)."""
    excused_windows: tuple[MissedCheckpoint, ...] = field(default=())
    """The windows a leave excused, not scanned since (at most ``MISSED_KEPT``): a
    cancellation dated before one ends shows it missed (``gateway.rules.patrol_leave``)."""
    wands: tuple[str, ...] = field(default=())
    """The offline patrol wands this shift's scans come by (his own, those kept at his post).
    While there are any, a checkpoint is judged only once a download of every one of them
    covers the time a scan of it could still count, or the wait for one ran out
    (``gateway.rules.patrol_wands``)."""
    downloads: tuple[tuple[str, datetime], ...] = field(default=())
    """Per wand, when it was last downloaded: its log held every scan made before then."""
    ended_at: datetime | None = None
    """When the guard's duty ended before a round under way did: relieved, for a machine whose
    rounds wait past it for a wand's download, or his shift's end moved into a round by a site
    load. Nothing after it is his; the machine closes once those rounds are completed."""

    @property
    def logged_to(self) -> datetime | None:
        """The time up to which the scans of every wand are in: the earliest of their latest
        downloads. ``None`` while a wand has not been downloaded, and for a shift without
        wands (its scans arrive as they are read)."""
        if not self.wands:
            return None
        latest = dict(self.downloads)
        if any(wand not in latest for wand in self.wands):
            return None
        return min(latest[wand] for wand in self.wands)

    def with_download(self, wand_id: str, at: datetime) -> PatrolState:
        """This state after ``wand_id`` was downloaded at ``at`` (an older download than the
        one on record changes nothing)."""
        previous = dict(self.downloads).get(wand_id)
        if previous is not None and previous >= at:
            return self
        others = tuple((w, t) for w, t in self.downloads if w != wand_id)
        return replace(self, downloads=(*others, (wand_id, at)))

    @property
    def machine_id(self) -> str:
        return f"{self.shift_id}/{self.route_id}"

    @classmethod
    def start(
        cls,
        plan: RoutePlan,
        *,
        shift_id: str,
        guard_id: str,
        site_id: str,
        shift_start: datetime,
        shift_end: datetime,
        known_from: datetime | None = None,
    ) -> PatrolState:
        """The state before anything happened, with every round of the shift planned; for a
        shift the gateway learned of after it began (``known_from``), the rounds from then on:
        an earlier round's scans were never received, so it cannot be judged."""
        begins = round_starts(plan, shift_start, shift_end)
        if known_from is not None:
            begins = tuple(b for b in begins if b >= utc(known_from))
        rounds = _planned(plan, begins)
        first = min((v.window_end for r in rounds for v in r.visits), default=None)
        return cls(
            shift_id=shift_id,
            route_id=plan.route_id,
            guard_id=guard_id,
            post_id=plan.post_id,
            site_id=site_id,
            ordered=plan.ordered,
            shift_end=utc(shift_end),
            checkpoint_ids=tuple(cp.checkpoint_id for cp in plan.checkpoints),
            rounds=tuple(rounds),
            next_deadline=first,
        )

    def replanned(self, plan: RoutePlan, shift_start: datetime, now: datetime) -> PatrolState:
        """This machine after its route became ``plan`` at ``now`` (a site load changed the
        route's checkpoints, windows or schedule): the rounds begun by then stay as they were
        planned (the guard was sent on them), the later ones are ``plan``'s. Scans count for
        the checkpoints of either, so a round under way still takes its own. The same state
        when nothing changes; ``next_deadline`` is the caller's to set (it needs the policy)."""
        now = utc(now)
        kept = tuple(r for r in self.rounds if r.started_at <= now)
        begins = tuple(b for b in round_starts(plan, shift_start, self.shift_end) if b > now)
        rounds = (*kept, *_planned(plan, begins))
        wanted = tuple(cp.checkpoint_id for cp in plan.checkpoints)
        under_way = {v.checkpoint_id for r in kept for v in r.visits}
        checkpoint_ids = (*wanted, *sorted(under_way - set(wanted)))
        if (rounds, checkpoint_ids, plan.ordered) == (
            self.rounds,
            self.checkpoint_ids,
            self.ordered,
        ):
            return self
        return replace(self, rounds=rounds, checkpoint_ids=checkpoint_ids, ordered=plan.ordered)

    def excuses(self, visit: CheckpointVisit | MissedCheckpoint) -> bool:
        """Whether a leave approved by the end of ``visit``'s window spans it whole. (On the
        clock every leave on record was; a round judged on a wand's download later may know
        of leaves approved since, which excuse nothing.)"""
        return any(
            a <= visit.window_start and visit.window_end <= b and approved <= visit.window_end
            for a, b, approved in self.on_leave
        )

    def last_scan(self, checkpoint_id: str) -> datetime | None:
        return next((t for cp, t in self.last_scans if cp == checkpoint_id), None)

    def with_last_scan(self, checkpoint_id: str, at: datetime) -> PatrolState:
        others = tuple((cp, t) for cp, t in self.last_scans if cp != checkpoint_id)
        return replace(self, last_scans=(*others, (checkpoint_id, at)))

    def to_json(self) -> dict[str, Json]:
        """The JSON form stored after every step; ``from_json`` restores it exactly."""
        return {
            "version": STATE_VERSION,
            "shift_id": self.shift_id,
            "route_id": self.route_id,
            "guard_id": self.guard_id,
            "post_id": self.post_id,
            "site_id": self.site_id,
            "ordered": self.ordered,
            "shift_end": iso(self.shift_end),
            "checkpoint_ids": list(self.checkpoint_ids),
            "rounds": [r.to_json() for r in self.rounds],
            "next_deadline": opt_iso(self.next_deadline),
            "stepped_at": opt_iso(self.stepped_at),
            "closed": self.closed,
            "completed_rounds": self.completed_rounds,
            "last_scans": [[cp, iso(t)] for cp, t in self.last_scans],
            "on_leave": [[iso(a), iso(b), iso(approved)] for a, b, approved in self.on_leave],
            "missed": [m.to_json() for m in self.missed],
            "excused_windows": [m.to_json() for m in self.excused_windows],
            "wands": list(self.wands),
            "downloads": [[w, iso(t)] for w, t in self.downloads],
            "ended_at": opt_iso(self.ended_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PatrolState:
        """Restore a state stored by :meth:`to_json`. Raises ``ValueError`` on another version."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"patrol state version {data.get('version')!r} is not supported")
        return cls(
            shift_id=str(data["shift_id"]),
            route_id=str(data["route_id"]),
            guard_id=str(data["guard_id"]),
            post_id=str(data["post_id"]),
            site_id=str(data["site_id"]),
            ordered=bool(data["ordered"]),
            shift_end=to_dt(data["shift_end"]),
            checkpoint_ids=tuple(str(c) for c in data["checkpoint_ids"]),
            rounds=tuple(PatrolRound.from_json(r) for r in data["rounds"]),
            next_deadline=opt_dt(data["next_deadline"]),
            stepped_at=opt_dt(data["stepped_at"]),
            closed=bool(data["closed"]),
            completed_rounds=int(data["completed_rounds"]),
            last_scans=tuple((str(cp), to_dt(t)) for cp, t in data["last_scans"]),
            on_leave=tuple(_leave_span(span) for span in data.get("on_leave", ())),
            missed=tuple(MissedCheckpoint.from_json(m) for m in data.get("missed", ())),
            excused_windows=tuple(
                MissedCheckpoint.from_json(m) for m in data.get("excused_windows", ())
            ),
            wands=tuple(str(w) for w in data.get("wands", ())),
            downloads=tuple((str(w), to_dt(t)) for w, t in data.get("downloads", ())),
            ended_at=opt_dt(data.get("ended_at")),
        )


def leave_spans(leaves: Iterable[Leave]) -> tuple[tuple[datetime, datetime, datetime], ...]:
    """``[from, until)`` of each approved leave, until its end or its cancellation if sooner,
    and when it was approved (``PatrolState.on_leave``)."""
    return tuple(
        sorted(
            (lv.starts_at, lv.over_at, lv.approved_at) for lv in leaves if lv.over_at > lv.starts_at
        )
    )


def _leave_span(span: Sequence[Any]) -> tuple[datetime, datetime, datetime]:
    """A stored span; one stored before approvals were kept counts as approved at its start."""
    start = to_dt(span[0])
    return start, to_dt(span[1]), to_dt(span[2]) if len(span) > 2 else start


def _planned(plan: RoutePlan, begins: tuple[datetime, ...]) -> tuple[PatrolRound, ...]:
    """A fresh round of ``plan`` at each of ``begins``."""
    return tuple(
        PatrolRound(
            started_at=begin,
            visits=tuple(
                CheckpointVisit(
                    checkpoint_id=cp.checkpoint_id,
                    position=i,
                    window_start=begin + timedelta(seconds=cp.window_start_s),
                    window_end=begin + timedelta(seconds=cp.window_end_s),
                )
                for i, cp in enumerate(plan.checkpoints)
            ),
        )
        for begin in begins
    )
