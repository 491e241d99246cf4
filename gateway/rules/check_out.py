"""A check-out (签退) punched before the shift's end: the guard says he is leaving the post.

Internal to the package, as :mod:`gateway.rules.departures`: functions over a step's ``Run``.
A guard at a fixed post with only the clock-in terminal there and no GPS terminal is seen by
his punches alone, each an INSIDE fix (``gateway.rules.patrol_presence``); a check-out was one
more, so one who checked out at 14:00 of a 08:00–16:00 shift and went home was never seen to
leave, and nothing was raised. Attendance systems call such a check-out 早退, as the domain
calls a guard who leaves before the end and does not return.

So a check-out at a terminal at his post, punched more than ``tolerance_s`` before the shift's
end, places him there at the punch and opens a departure dated at it, the punch its evidence
(``Departure.checked_out``). From there the ordinary rules apply: ``alert.unreported_departure``
unless a report (a break-out punch or one typed in) or a leave covers it, ``alert.overtime_
departure`` past the verbal-report limit, ``alert.left_early`` at the end if he has not come
back. Evidence that he is back ends it as any return does: a later punch at that terminal (a
check-in, a break-in, any), an INSIDE fix of a GPS terminal he wears.

* **With a GPS terminal**: the check-out still opens the departure, but his worn, moving terminal
  reading inside after it shows him on the post and returns him (``departures.returns_with``):
  where he is, the device he carries says better than what he keyed in. One lying still on the
  post while he is out is a device left behind, as in any departure, from its next fix: at the
  punch it lay still because he stood at the terminal.
* **Already out** (GPS confirmed a departure before): he came by the terminal to check out and
  went again; the punch starts no return, the outing goes on.
* **A terminal offline** pushes the check-out late: it opens the departure at the punch all the
  same, and the deadlines due since fire at once (backfilled); a later punch it pushes with it
  returns him, and the off-post alerts dated after that return are withdrawn
  (``returned_before``), as for any upload. Evidence older than the newest the machine took
  (GPS fixes since) is history, as any punch: those fixes said where he was. Pushed after the
  shift ended, it is no return from an outing open at the end (``arrival.after_the_end``).
* **A double shift** (连班): a check-out at the first shift's end is not before it; one before
  opens a departure the second shift takes over with what stood at the end (``handover``).
* **Moving on** to his next shift at another post (轮岗, ``departures.moving_on``): as when GPS
  sees him go, it ends his shift here, as a relief.
* **After the end**, or within the tolerance of it: the ordinary check-out, evidence only.
"""

from __future__ import annotations

from datetime import datetime

from gateway.policy import SitePolicy

from .arrival import arrive, placed_by
from .copying import replace
from .departures import moving_on
from .entries import Departure, FixEvidence, departure_id_for, iso
from .events import PRESENCE_DEPARTED
from .machine import Run
from .state import PresenceState

__all__ = ["CLOCK_TOLERANCE_S", "check_out", "leaves_before_the_end", "tolerance_s"]

CLOCK_TOLERANCE_S = 120.0
"""How far a terminal's clock may run off before the gateway dates its punches by its own
clock (``drivers.zkteco.clock_offset.TOLERANCE``): within it, a check-out read as punched up to
two minutes before the end may have been punched at the end, and the queue at the terminal at
the end of a shift takes that long too."""


def tolerance_s(policy: SitePolicy) -> float:
    """How long before the shift's end a check-out still counts as at the end: the site's
    ``early_leave_tolerance_s`` (a departure begun within it is not leaving early anyway), at
    least the terminal clock's ``CLOCK_TOLERANCE_S``."""
    return max(policy.early_leave_tolerance_s, CLOCK_TOLERANCE_S)


def leaves_before_the_end(state: PresenceState, at: datetime, policy: SitePolicy) -> bool:
    """Whether a check-out punched at ``at`` opens a departure (the module docstring)."""
    return (state.shift_end - at).total_seconds() > tolerance_s(policy)


def check_out(run: Run, evidence: FixEvidence) -> None:
    """Apply a check-out at the post's terminal punched before the end (``evidence``): his
    arrival if he was not seen yet, then the departure it opens, or the outing under way
    going on."""
    if run.state.arrived_at is None:
        arrive(run, placed_by(run.state, evidence))
    state = run.state
    dep = state.departure
    if dep is not None:
        run.state = replace(state, departure=replace(dep, inside_first=None, checked_out=True))
        return
    at = evidence.fix_time
    if moving_on(state, at, run.policy):
        run.relieved(at)
        return
    departure = Departure(
        departure_id=departure_id_for(state.shift_id, at),
        first_fix=evidence,
        last_fix=evidence,
        checked_out=True,
    )
    # Outside runs begun before the punch were wrong: he stood at the terminal.
    tracks = tuple(
        t.ended_run() if t.run_first is not None and t.run_first.fix_time <= at else t
        for t in state.tracks
    )
    run.state = replace(state, departure=departure, tracks=tracks)
    run.attach_report()
    run.attach_leave(at, approved_by=at)
    opened = run.state.departure
    assert opened is not None
    run.emit(
        PRESENCE_DEPARTED,
        at,
        iso(at),
        {
            "departure_id": opened.departure_id,
            "started_at": iso(at),
            "first_fix": evidence.to_json(),
            "last_fix": evidence.to_json(),
            "confirm_s": 0,
            "evidence_fixes": 1,
            "report_id": opened.report_id,
            "leave_id": opened.leave_id,
            "checked_out": True,
        },
        device_id=evidence.device_id,
    )
