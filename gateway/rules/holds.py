"""When a tick may decide, and when a fix waits: holds while data that may settle them arrives.

A tick's holds: a deadline that came due while evidence about it was still on its way is not
fired by a tick until that evidence had ``RESTART_GRACE_S`` to arrive; a fix fires the
deadlines due by its own time whenever it comes (``presence._on_fix``), so the outcome is the
same whichever comes first, the tick or the data:

* **after a restart** (``PresenceState.unwatched_from``/``unwatched_until``): the messages the
  broker kept for the gateway while it was down;
* **during a backfill** (``PresenceState.backfill_at``/``backfill_heard_at``): a terminal back
  in network uploading the positions it stored in a blind area (a basement, a lift, a dead
  zone), oldest first. A tick that fell between two of its messages would otherwise decide
  with half the outing known: out from 09:00 to 09:05, the terminal offline from 08:50 to
  09:20, the outside fixes of the upload reveal an outing whose 15 minutes ran out at 09:15,
  and the inside fixes of 09:05, one message later, would come after its overtime alert.

A fix's hold: **a fix after a gap is held back** (``PresenceState.held``): one more than
``GAP_S`` after its device's previous fix (its first in the shift: after the time the guard
was expected on post) waits ``LIVE_HELD_S``, or until a newer fix of that
device comes (another device's, a badge heard all along, leaves it waiting). Until then no
tick, and no fix of another device, decides a deadline due in the gap it follows.
Some terminals (JT/T 808) send their current position (0x0200) before the positions they stored
out of network (0x0704), and order is kept per device, so stored fixes that came after it would
never be judged. Live, its terminal is heard at once (a silence ends:
``presence.device_resumed``); old (the two reached a gateway that was down through the broker's
session, one after the other, or it is a stored fix after a gap in the upload), as any old fix,
once what the upload reveals is out. Only its position waits, and the stored fixes that arrive
meanwhile are judged first, in their order.

**The end waits for a quiet terminal** (``end_wait``): at the shift end, a worn terminal whose
last fix is more than ``GAP_S`` old may be in a blind area with positions stored that show the
guard back before the end, or out. So may one never heard in the shift (a basement post out of
network from before the start): its upload shows his arrival, his outings and where he was at
the end, which are then judged as any upload's, not only an absence withdrawn. The end, and
what falls after it, waits for them up to ``end_upload_wait_s``, or until its positions reach
the end; fixes that arrive after the end dated inside the shift are judged meanwhile, as any
upload (a backfill, below, which the end waits for too; from such a terminal every one of them
is, however young: the last positions it stored before the end are less than a minute old when
it sends them just after). Later than that, they are history. A relief is an end too
(``duty_end``): a guard relieved while his terminal is in a blind area may have been out before
it, and the positions that show it come after the relief.

A backfill begins with a fix older than ``BACKFILL_AFTER_S`` on arrival from a terminal that was
silent (``silent_since``: no fix for ``device_silent_s``), or whose fix after a gap is held
back, and goes on while its fixes arrive that old; a fix that is not ends it, having fired
everything due by its time. A terminal whose clock runs behind but that is heard all along
starts none: its deadlines fire on the clock, as before. A blind area shorter than the silence
limit starts none either; what a limit alert that fell meanwhile got wrong, the return withdraws
(``offpost``, ``returned_before``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.clock import utc
from gateway.policy import SitePolicy

from .copying import replace
from .entries import FixEvidence, HeldFix
from .events import BACKFILL_AFTER_S, RESTART_GRACE_S
from .inputs import FixObserved
from .state import PresenceState

__all__ = [
    "due_for_release",
    "end_wait",
    "fires_until",
    "held",
    "hold_back",
    "holds_back",
    "next_tick",
    "note_backfill",
    "release_due",
    "released",
    "unwatched_before",
]

_GRACE = timedelta(seconds=RESTART_GRACE_S)

GAP_S = BACKFILL_AFTER_S
"""A fix more than this after its device's previous one may have stored fixes behind it."""

_GAP = timedelta(seconds=GAP_S)
_OLD = timedelta(seconds=BACKFILL_AFTER_S)

LIVE_HELD_S = 5.0
"""How long such a fix waits for them: a terminal sends its stored batch right after its live
position (the same connection, a second or two), and a power-saving terminal, whose every fix
follows a gap, has each of its fixes judged this much later."""

_WAIT = timedelta(seconds=LIVE_HELD_S)

_JUST_BEFORE = timedelta(microseconds=1)


def held(
    state: PresenceState, now: datetime, policy: SitePolicy
) -> tuple[datetime, datetime] | None:
    """(start, end) of the deadlines a tick holds back at ``now``: those due after ``start``,
    until ``end``; ``None`` when none is. With several holds on, the widest span. A fix held
    back holds the deadlines due after its device's previous fix until it is applied: it, or
    the stored fixes behind it, may show him back before them, as they would have had they
    come live. At the end, ``end_wait``."""
    at_end = now >= state.duty_end and not state.ended
    if (
        state.unwatched_until is None
        and state.backfill_heard_at is None
        and not state.held
        and not at_end
    ):
        return None  # every step of nearly every guard asks
    spans: list[tuple[datetime, datetime]] = []
    if at_end:
        waiting = end_wait(state, policy)
        if waiting is not None:
            spans.append(waiting)
    if state.unwatched_from is not None and state.unwatched_until is not None:
        spans.append((state.unwatched_from, state.unwatched_until + _GRACE))
    if state.backfill_at is not None and state.backfill_heard_at is not None:
        spans.append((state.backfill_at, state.backfill_heard_at + _GRACE))
    spans.extend((_gap_start(state, h.evidence), _release_of(h)) for h in state.held)
    spans = [(since, end) for since, end in spans if now < end]
    if not spans:
        return None
    return min(since for since, _ in spans), max(end for _, end in spans)


def end_wait(state: PresenceState, policy: SitePolicy) -> tuple[datetime, datetime] | None:
    """(start, end) of the deadlines the end of the guard's duty (the shift's end, or the
    relief that ended it sooner: ``duty_end``) holds back for a quiet terminal's upload (see
    the module docstring): the end, to ``end_upload_wait_s`` after it, when a worn terminal's
    last fix is more than ``GAP_S`` old then, or none was heard in the shift while one of his
    devices reports live (``PresenceState.reports_live``); ``None`` when every worn terminal
    was heard up to the end, he has only offline wands, the shift ended already, or the duty
    goes on in the next shift at this post (which takes over what stands at the end)."""
    wait_s = policy.end_upload_wait_s
    if wait_s <= 0 or state.ended or state.continued:
        return None
    end = state.duty_end
    if state.tracks:
        if all(end - t.last_fix_time <= _GAP for t in state.tracks):
            return None
    elif not state.reports_live:
        return None  # nothing he has is heard live: there is no upload to wait for
    # The end and what falls after it; a deadline before it a tick came a moment late for
    # falls on the clock, as it would have (what the upload shows withdraws it if wrong).
    return end - _JUST_BEFORE, end + timedelta(seconds=wait_s)


def next_tick(
    state: PresenceState, now: datetime, due: datetime | None, policy: SitePolicy
) -> datetime | None:
    """When ``state`` next needs a tick, its earliest deadline being ``due``: put off to the end
    of a hold it falls in (``held``), or sooner, when a fix held back is to be applied."""
    hold = held(state, now, policy)
    if due is not None and hold is not None and hold[0] < due < hold[1]:
        due = hold[1]
    release = release_due(state)
    if release is not None and (due is None or release < due):
        due = release
    return due


def unwatched_before(state: PresenceState, watching_since: datetime) -> PresenceState:
    """``state`` as a process that began watching at ``watching_since`` takes it over (a start,
    a restart, partitions taken from a process that died): told the span nobody watched, from
    its last step, or for a machine that never stepped from when its shift became known (its
    start, or the load that made it known), to ``watching_since``; unchanged when that span is
    empty. Its deadlines in the span then wait for the messages the broker kept (``held``)."""
    since = state.stepped_at
    if since is None:
        since = state.shift_start if state.known_from is None else state.known_from
    if since >= watching_since:
        return state
    return replace(state, unwatched_from=since, unwatched_until=watching_since)


def note_backfill(
    state: PresenceState, fix_time: datetime, now: datetime, policy: SitePolicy
) -> PresenceState:
    """``state`` having received, at ``now``, a fix taken at ``fix_time``: in a backfill that
    has reached ``fix_time`` when the fix is old, out of any backfill when it is not. An old
    fix after the shift's end (the end waiting for it, ``end_wait``) is an upload too, and so
    is, whatever its age, a fix dated inside the shift that comes after its end from a terminal
    the end waits for or in an upload under way: the last positions a terminal stored before
    the end are less than a minute old when it sends them just after, and taking one of them
    for live would end the wait with the rest of the upload still on its way."""
    # Every fix asks: the end's case costs one comparison before the end.
    if now - fix_time > _OLD or (
        now >= state.duty_end and _uploaded_over_the_end(state, fix_time, policy)
    ):
        if (
            state.silent_since is None
            and state.backfill_at is None
            and not state.held
            and now < state.duty_end
        ):
            return state  # a clock running behind on a terminal heard all along: no upload
        return replace(state, backfill_at=fix_time, backfill_heard_at=now)
    if state.backfill_at is None and state.backfill_heard_at is None:
        return state
    return replace(state, backfill_at=None, backfill_heard_at=None)


def _uploaded_over_the_end(state: PresenceState, fix_time: datetime, policy: SitePolicy) -> bool:
    """A fix dated inside the shift, come after its end (``now``) from a terminal the end
    waits for or in an upload under way (``note_backfill``)."""
    if state.ended or fix_time >= state.duty_end:
        return False
    return state.backfill_at is not None or end_wait(state, policy) is not None


def holds_back(state: PresenceState, fix: FixObserved) -> bool:
    """Whether ``fix``, from a worn terminal more than ``GAP_S`` after its previous fix (its
    first in the shift: after the time he was expected on post), is to be held back
    ``LIVE_HELD_S`` for the positions the terminal may have stored in the gap and send next
    (see the module docstring); not while one of its device is held already."""
    # Asked for every fix: timedeltas compared as they are, the track looked up last.
    if not fix.worn or state.ended or (state.held and state.held_of(fix.device_id) is not None):
        return False
    # Old or not: a fix the broker kept while the gateway was down comes old, and the stored
    # positions its terminal sent behind it may come in the same backlog.
    track = state.track(fix.device_id)
    # A terminal first heard after the start (out of network in a basement booth since
    # before it) may send the positions it stored since behind its live one.
    last = state.expected_at if track is None else track.last_fix_time
    return utc(fix.fix_time) - last > _GAP


def hold_back(state: PresenceState, fix: FixObserved) -> PresenceState:
    """``state`` holding ``fix`` back (``holds_back``), its terminal heard: the silence is
    over now (the caller says so), only the position waits."""
    received = utc(fix.received_at)
    if state.last_received_at is not None and state.last_received_at > received:
        received = state.last_received_at
    return replace(
        state,
        held=(*state.held, HeldFix(FixEvidence.of(fix), fix.membership)),
        last_received_at=received,
        last_device_id=fix.device_id,
    )


def fires_until(state: PresenceState, device_id: str, until: datetime) -> datetime:
    """How far a fix of ``device_id`` may fire deadlines, ``until`` its own time: while another
    device's fix is held back, no further than what that device has shown (its stored
    positions, which may show the return, are still on their way)."""
    for h in state.held:
        if h.evidence.device_id != device_id:
            until = min(until, _gap_start(state, h.evidence))
    return until


def _gap_start(state: PresenceState, evidence: FixEvidence) -> datetime:
    """The start of the gap a fix held back follows: its device's previous fix, or the time
    he was expected on post for its first."""
    track = state.track(evidence.device_id)
    last = state.expected_at if track is None else track.last_fix_time
    return min(evidence.fix_time, last)


def _release_of(held_fix: HeldFix) -> datetime:
    return held_fix.evidence.received_at + _WAIT


def release_due(state: PresenceState) -> datetime | None:
    """When the first fix held back is applied whatever came meanwhile; ``None`` when none
    is."""
    return min((_release_of(h) for h in state.held), default=None)


def due_for_release(state: PresenceState, now: datetime) -> list[str]:
    """The devices whose fix held back is due to be applied at ``now``, in their fixes' order
    (all of them at the shift's end)."""
    due = [h for h in state.held if now >= _release_of(h) or now >= state.duty_end]
    return [h.evidence.device_id for h in sorted(due, key=lambda h: h.evidence.fix_time)]


def released(state: PresenceState, device_id: str) -> tuple[PresenceState, FixObserved]:
    """``state`` without the fix of ``device_id`` it held back, and that fix, to apply now (a
    newer fix of its device came, the wait is over, or the shift ends)."""
    held_fix = state.held_of(device_id)
    assert held_fix is not None
    evidence = held_fix.evidence
    fix = FixObserved(
        device_id=evidence.device_id,
        fix_time=evidence.fix_time,
        received_at=evidence.received_at,
        membership=held_fix.membership,
        distance_m=evidence.distance_m,
        accuracy_m=evidence.accuracy_m,
        lat=evidence.lat,
        lon=evidence.lon,
        raw=evidence.raw,
    )
    return replace(state, held=tuple(h for h in state.held if h is not held_fix)), fix
