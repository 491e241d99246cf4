"""The persisted state of one guard shift's presence machine, and its JSON form.

The state is everything the rules need to continue after a restart: where the guard stands
(not yet arrived, on post, a candidate departure, an open departure, a candidate return), the
reports and leaves on record, which alerts already fired, and the deadline to wake up at. It is
stored after every step, in the same transaction as the events it produced, so an event is never
emitted twice and a pending deadline is never lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.clock import utc
from geofence.membership import Membership

from .copying import replace
from .entries import (
    Departure,
    FixEvidence,
    HeldFix,
    Leave,
    PendingCancel,
    Report,
    iso,
    opt_dt,
    opt_evidence,
    opt_evidence_json,
    opt_iso,
    opt_str,
    to_dt,
)
from .events import Json
from .handover import Handover
from .silences import Silence
from .tracks import DeviceTrack

__all__ = ["PresenceState"]

STATE_VERSION = 2
"""Bumped when the JSON form changes; ``from_json`` reads this version and the one before it
(a gateway upgraded mid-shift keeps its decisions), and refuses any other."""

PAST_DEPARTURES_KEPT = 32
"""Ended departures kept in the state, newest last: a report or leave entered late is matched
against them. A shift with more outings than this is already a case for a person."""


@dataclass(frozen=True, slots=True)
class PresenceState:
    """The presence machine of one guard on duty at one post for one shift.

    Build it with :meth:`start`; advance it only with ``step``. ``next_deadline`` is the earliest
    time a ``Tick`` may produce something (``None`` once the shift is closed): the runtime calls
    ``step(state, Tick(), now, policy)`` when ``now >= next_deadline``. ``stepped_at`` is the clock
    time of the last step (a deadline that came due after it and fires late is marked ``late``).

    Position: not arrived (``arrived_at is None``); on post (``departure is None``), possibly with
    worn devices on an outside run (``tracks``); off post (``departure`` set), possibly with a
    candidate return (``departure.inside_first``). ``ended``: the shift is over; only decisions
    owed for what happened inside it remain (an unreported decision, the hour to cancel a leave),
    and ``closed`` follows once none is left. ``past_departures`` are the shift's ended outings.
    ``resume_pending``: data came again from a silent terminal, but only old (a blind-area
    upload); ``presence.device_resumed`` waits for live data or the next tick, so it follows the
    events the upload reveals. ``unwatched_from``/``unwatched_until``: the gateway was not running
    between these clock times (set when a state is restored at start-up), so a deadline due then
    fires ``late`` whatever input comes first.
    """

    shift_id: str
    guard_id: str
    post_id: str
    site_id: str
    device_ids: tuple[str, ...]
    shift_start: datetime
    shift_end: datetime
    next_deadline: datetime | None
    stepped_at: datetime | None = None
    closed: bool = False
    ended: bool = False
    arrived_at: datetime | None = None
    absent_checked: bool = False
    absent_open: bool = False
    absent_raised_at: datetime | None = None
    absences_withdrawn: int = 0
    last_fix_time: datetime | None = None
    last_received_at: datetime | None = None
    last_device_id: str | None = None
    silent_since: datetime | None = None
    silences: tuple[Silence, ...] = field(default=())
    resume_pending: FixEvidence | None = None
    tracks: tuple[DeviceTrack, ...] = field(default=())
    departure: Departure | None = None
    past_departures: tuple[Departure, ...] = field(default=())
    reports: tuple[Report, ...] = field(default=())
    leaves: tuple[Leave, ...] = field(default=())
    pending_cancels: tuple[PendingCancel, ...] = field(default=())
    unwatched_from: datetime | None = None
    unwatched_until: datetime | None = None
    backfill_at: datetime | None = None
    """Device time reached by a terminal's backfill under way (``gateway.rules.holds``)."""
    backfill_heard_at: datetime | None = None
    """Clock time the backfill's latest fix arrived; it ends ``RESTART_GRACE_S`` after."""
    held: tuple[HeldFix, ...] = ()
    """Fixes after a gap in their device's fixes, held back for the positions the terminal may
    have stored in the gap (``gateway.rules.holds``): at most one per device."""
    known_from: datetime | None = None
    """When the gateway learned of the shift, if after its start (a site first loaded during
    it): the arrival grace and the silence limit count from here; fixes since the shift start
    still count as evidence."""
    next_post_at: datetime | None = None
    """When the guard's next shift, at another post, starts, if it follows this one (within
    ``next_post_walk_s`` of its end): an outing begun that close to the end is his way there."""
    next_shift_at: datetime | None = None
    """When the guard's next shift in the roster starts, at any post (``None``: none known): a
    leave he is out on at this one's end and that runs into it is that shift's to settle."""
    relieved_at: datetime | None = None
    """When a person ended the shift before its scheduled end (a relief, a site load cutting
    it short, his leaving for his next post): his duty ended then (``duty_end``). The machine
    ends with it, or, when a worn terminal is quiet then, once its upload is in or the end's
    wait is over (``holds.end_wait``), as at the scheduled end."""
    wands: tuple[str, ...] = ()
    """The offline patrol wands among ``device_ids``: heard only when downloaded."""
    worn: tuple[str, ...] = ()
    """The terminals among ``device_ids`` the guard wears (his GPS terminals): the only ones
    heard all the time he is on duty, so the only ones that can be silent (``reports_live``).
    The rest is fixed equipment (a clock-in terminal, a reader at his post, a wand): its punch
    or scan places him, but it is quiet between two as a matter of course."""
    handover: Handover | None = None
    """What stands at the end of a shift his next one at this post continues (``continued``, a
    double shift), until that shift's machine takes it (``gateway.rules.handover``): the
    outing under way is that shift's to decide, not this one's."""

    @classmethod
    def start(
        cls,
        shift_id: str,
        guard_id: str,
        post_id: str,
        site_id: str,
        device_ids: Iterable[str],
        shift_start: datetime,
        shift_end: datetime,
        known_from: datetime | None = None,
        next_post_at: datetime | None = None,
        next_shift_at: datetime | None = None,
        wands: Iterable[str] = (),
        worn: Iterable[str] | None = None,
    ) -> PresenceState:
        """The state before anything happened. Its first deadline is the shift start, when a
        tick computes the real ones (the limits come with the policy at each step). ``wands``:
        the offline patrol wands among ``device_ids``; ``worn``: the terminals he wears among
        them (``None``: every device but the wands)."""
        start, end = utc(shift_start), utc(shift_end)
        devices, offline = tuple(device_ids), tuple(wands)
        known = None if known_from is None or utc(known_from) <= start else utc(known_from)
        if end <= start:
            raise ValueError(f"shift {shift_id} ends ({end}) before it starts ({start})")
        return cls(
            shift_id=shift_id,
            guard_id=guard_id,
            post_id=post_id,
            site_id=site_id,
            device_ids=devices,
            shift_start=start,
            shift_end=end,
            next_deadline=start,
            known_from=known,
            next_post_at=None if next_post_at is None else utc(next_post_at),
            next_shift_at=None if next_shift_at is None else utc(next_shift_at),
            wands=offline,
            worn=_worn(devices, offline) if worn is None else tuple(worn),
        )

    @property
    def reports_live(self) -> bool:
        """Whether one of his devices is heard all the time he is on duty: a terminal he wears
        (``worn``). Only then can his terminal be silent, and only then may the end wait for
        its upload (``holds.end_wait``): a clock-in terminal or a reader at his post is heard
        when he punches or scans, and an offline wand when it is downloaded."""
        return bool(self.worn)

    def leave(self, leave_id: str | None) -> Leave | None:
        """The leave on record with this id."""
        return next((lv for lv in self.leaves if lv.leave_id == leave_id), None)

    def with_leave(self, leave: Leave) -> PresenceState:
        """This state with ``leave`` added or replacing the record with the same id."""
        others = tuple(lv for lv in self.leaves if lv.leave_id != leave.leave_id)
        return replace(self, leaves=(*others, leave))

    def silence_key(self, since: datetime) -> str:
        """The key of the ``alert.device_silent`` of the silence from ``since``: raised by this
        shift, or by the one before that handed it on (``Silence.shift_id``)."""
        quiet = next((s for s in self.silences if s.since == since), Silence(since, since))
        return quiet.alert_key(self.shift_id)

    @property
    def duty_end(self) -> datetime:
        """When the guard's duty in this shift ends or ended: the relief, else the scheduled
        end. What he does after it is off duty."""
        return self.shift_end if self.relieved_at is None else self.relieved_at

    @property
    def continued(self) -> bool:
        """Whether his next shift is at this post and starts at this one's end (a double
        shift, 连班: the night 20:00-08:00, then the day): his duty goes on without a break.
        A next shift at another post starting then is ``next_post_at`` (轮岗). Not once he
        was relieved: his duty ended at the relief."""
        end = self.shift_end
        return self.relieved_at is None and self.next_shift_at == end and self.next_post_at != end

    @property
    def expected_at(self) -> datetime:
        """When the guard was first expected on post: the shift start, or ``known_from``."""
        return self.shift_start if self.known_from is None else self.known_from

    @property
    def absence_episode(self) -> str:
        """The episode (last part of the key) of the absence alert raised: the shift start for
        the first, its own time for one raised again after a leave withdrew one."""
        if self.absences_withdrawn == 0 or self.absent_raised_at is None:
            return iso(self.shift_start)
        return iso(self.absent_raised_at)

    def held_of(self, device_id: str) -> HeldFix | None:
        """The fix of ``device_id`` held back, if one is."""
        for held in self.held:
            if held.evidence.device_id == device_id:
                return held
        return None

    def track(self, device_id: str) -> DeviceTrack | None:
        """The track of a worn device, once it was heard in this shift."""
        # A loop, not next() over a generator: twice a fix, and a guard has one or two devices.
        for track in self.tracks:
            if track.device_id == device_id:
                return track
        return None

    def tracks_with(self, track: DeviceTrack) -> tuple[DeviceTrack, ...]:
        """This state's tracks with ``track`` added or replacing the device's track."""
        others = tuple(t for t in self.tracks if t.device_id != track.device_id)
        return (*others, track)

    def candidate(self) -> DeviceTrack | None:
        """The worn device whose outside run began first (a departure not yet confirmed)."""
        runs = [(t.run_first.fix_time, t.device_id, t) for t in self.tracks if t.run_first]
        return min(runs, key=lambda r: (r[0], r[1]), default=(None, None, None))[2]

    @property
    def departures(self) -> list[Departure]:
        """The shift's departures, ended and open, in the order they began."""
        out = list(self.past_departures)
        if self.departure is not None:
            out.append(self.departure)
        return sorted(out, key=lambda d: d.started_at)

    def with_departure(self, departure: Departure) -> PresenceState:
        """This state with ``departure`` updated where it is kept: as the open departure if it
        is that one, else among the ended ones (``with_past``)."""
        if self.departure is not None and self.departure.departure_id == departure.departure_id:
            return replace(self, departure=departure)
        return self.with_past(departure)

    def with_past(self, departure: Departure) -> PresenceState:
        """This state with ``departure`` recorded (or updated) among the ended ones."""
        others = [d for d in self.past_departures if d.departure_id != departure.departure_id]
        kept = sorted([*others, departure], key=lambda d: d.started_at)[-PAST_DEPARTURES_KEPT:]
        return replace(self, past_departures=tuple(kept))

    def to_json(self) -> dict[str, Json]:
        """The JSON form stored after every step; ``from_json`` restores it exactly."""
        return {
            "version": STATE_VERSION,
            "shift_id": self.shift_id,
            "guard_id": self.guard_id,
            "post_id": self.post_id,
            "site_id": self.site_id,
            "device_ids": list(self.device_ids),
            "shift_start": iso(self.shift_start),
            "shift_end": iso(self.shift_end),
            "next_deadline": opt_iso(self.next_deadline),
            "stepped_at": opt_iso(self.stepped_at),
            "closed": self.closed,
            "ended": self.ended,
            "arrived_at": opt_iso(self.arrived_at),
            "absent_checked": self.absent_checked,
            "absent_open": self.absent_open,
            "absent_raised_at": opt_iso(self.absent_raised_at),
            "absences_withdrawn": self.absences_withdrawn,
            "last_fix_time": opt_iso(self.last_fix_time),
            "last_received_at": opt_iso(self.last_received_at),
            "last_device_id": self.last_device_id,
            "silent_since": opt_iso(self.silent_since),
            "silences": [s.to_json() for s in self.silences],
            "resume_pending": opt_evidence_json(self.resume_pending),
            "tracks": [t.to_json() for t in self.tracks],
            "departure": None if self.departure is None else self.departure.to_json(),
            "past_departures": [d.to_json() for d in self.past_departures],
            "reports": [r.to_json() for r in self.reports],
            "leaves": [lv.to_json() for lv in self.leaves],
            "pending_cancels": [p.to_json() for p in self.pending_cancels],
            "unwatched_from": opt_iso(self.unwatched_from),
            "unwatched_until": opt_iso(self.unwatched_until),
            "backfill_at": opt_iso(self.backfill_at),
            "backfill_heard_at": opt_iso(self.backfill_heard_at),
            "held": [h.to_json() for h in self.held],
            "known_from": opt_iso(self.known_from),
            "next_post_at": opt_iso(self.next_post_at),
            "next_shift_at": opt_iso(self.next_shift_at),
            "relieved_at": opt_iso(self.relieved_at),
            "handover": None if self.handover is None else self.handover.to_json(),
            "wands": list(self.wands),
            "worn": list(self.worn),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PresenceState:
        """Restore a state stored by :meth:`to_json` (this version or the one before). Raises
        ``ValueError`` on another version.

        A version-1 state has no device tracks: a departure candidate under way is forgotten (the
        next fixes start it again) and an SOS episode is left to the alarm stage."""
        if data.get("version") not in (1, STATE_VERSION):
            raise ValueError(f"presence state version {data.get('version')!r} is not supported")
        departure = data["departure"]
        return cls(
            shift_id=str(data["shift_id"]),
            guard_id=str(data["guard_id"]),
            post_id=str(data["post_id"]),
            site_id=str(data["site_id"]),
            device_ids=tuple(str(d) for d in data["device_ids"]),
            shift_start=to_dt(data["shift_start"]),
            shift_end=to_dt(data["shift_end"]),
            next_deadline=opt_dt(data["next_deadline"]),
            stepped_at=opt_dt(data["stepped_at"]),
            closed=bool(data["closed"]),
            ended=bool(data.get("ended", False)),
            arrived_at=opt_dt(data["arrived_at"]),
            absent_checked=bool(data["absent_checked"]),
            absent_open=bool(data["absent_open"]),
            absent_raised_at=opt_dt(data.get("absent_raised_at")),
            absences_withdrawn=int(data.get("absences_withdrawn", 0)),
            last_fix_time=opt_dt(data["last_fix_time"]),
            last_received_at=opt_dt(data["last_received_at"]),
            last_device_id=opt_str(data["last_device_id"]),
            silent_since=opt_dt(data["silent_since"]),
            silences=tuple(Silence.from_json(s) for s in data.get("silences", ())),
            resume_pending=opt_evidence(data.get("resume_pending")),
            tracks=tuple(DeviceTrack.from_json(t) for t in data.get("tracks", ())),
            departure=None if departure is None else Departure.from_json(departure),
            past_departures=tuple(Departure.from_json(d) for d in data.get("past_departures", ())),
            reports=tuple(Report.from_json(r) for r in data["reports"]),
            leaves=tuple(Leave.from_json(lv) for lv in data["leaves"]),
            pending_cancels=tuple(PendingCancel.from_json(p) for p in data["pending_cancels"]),
            unwatched_from=opt_dt(data.get("unwatched_from")),
            unwatched_until=opt_dt(data.get("unwatched_until")),
            backfill_at=opt_dt(data.get("backfill_at")),
            backfill_heard_at=opt_dt(data.get("backfill_heard_at")),
            held=_held_from_json(data),
            known_from=opt_dt(data.get("known_from")),
            next_post_at=opt_dt(data.get("next_post_at")),
            next_shift_at=opt_dt(data.get("next_shift_at")),
            relieved_at=opt_dt(data.get("relieved_at")),
            handover=None if data.get("handover") is None else Handover.from_json(data["handover"]),
            wands=tuple(str(d) for d in data.get("wands", ())),
            worn=_worn_from_json(data),
        )


def _worn(device_ids: Iterable[str], wands: Iterable[str]) -> tuple[str, ...]:
    """Every device of ``device_ids`` but the ``wands``."""
    offline = set(wands)
    return tuple(d for d in device_ids if d not in offline)


def _worn_from_json(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The worn terminals of a stored state. One stored before the state kept them took every
    device but the wands for worn: it is read so, and follows the roster's devices (whose kinds
    say which are worn) as soon as the pipeline takes it up (``PresenceMachines``)."""
    if "worn" in data:
        return tuple(str(d) for d in data["worn"])
    return _worn((str(d) for d in data["device_ids"]), (str(d) for d in data.get("wands", ())))


def _held_from_json(data: Mapping[str, Any]) -> tuple[HeldFix, ...]:
    """The fixes held back in a stored state; one stored before a device could have one each
    has it as ``held_fix`` and ``held_membership``."""
    if "held" in data:
        return tuple(HeldFix.from_json(h) for h in data["held"])
    evidence, membership = data.get("held_fix"), data.get("held_membership")
    if evidence is None or membership is None:
        return ()
    return (HeldFix(FixEvidence.from_json(evidence), Membership(membership)),)
