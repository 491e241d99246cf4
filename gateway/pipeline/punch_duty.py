"""Which of a guard's shifts a clock-in terminal's punch belongs to.

A punch names a person, not a shift, and guards punch around their shifts' edges: in a few
minutes early, out a few minutes late, and on a double shift (连班) or a move to the next post
(轮岗) out of one shift and in for the next within minutes. The choice:

* a **check-out** belongs to the shift it falls in, else to the shift that ended within
  ``LATE_CHECK_OUT`` before it (out at 10:01 from 08:00-10:00), never to a shift still to come:
  taken for the next one, it would put him on post there before it started;
* a **check-in** belongs to the shift starting within ``EARLY_CHECK_IN`` after it when he is on
  none, and, when he is on one, to that next shift if the terminal stands at the next shift's
  post and not at this one's (in at the east gate at 08:58 for 09:00-10:00 while on the north
  gate to 09:00), or if he is clocked in for this one already (out at 07:58 and in again at
  07:59 on a double shift); else to the shift he is on (a late check-in);
* an **overtime** punch (加班: overtime-in, overtime-out) belongs to the shift it falls in;
  outside every shift, an overtime-in to the shift starting within ``EARLY_CHECK_IN`` after it
  (overtime before the shift), else to the shift that ended within ``OVERTIME_AFTER`` before
  it, and an overtime-out to that ended shift first (it closes overtime worked after it: out
  at 13:00 from overtime after 08:00-10:00), else to the shift starting soon after; before,
  both were counted off duty and the core never learned of the overtime;
* any other punch (a break) belongs to the shift it falls in, else to the shift starting within
  ``EARLY_CHECK_IN`` after it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from gateway.pipeline.duty import Duty, DutyIndex
from gateway.records import Punch, PunchKind

__all__ = ["EARLY_CHECK_IN", "LATE_CHECK_OUT", "OVERTIME_AFTER", "duty_of_punch"]

EARLY_CHECK_IN = timedelta(hours=1)
"""A check-in this long before a shift starts belongs to that shift."""
LATE_CHECK_OUT = timedelta(hours=1)
"""A check-out this long after a shift ended belongs to that shift."""
OVERTIME_AFTER = timedelta(hours=8)
"""An overtime punch this long after a shift ended belongs to that shift: well past the 3 hours
a day the labour law allows, so a long evening of overtime is still the shift's, and short of
the rest before a next day's shift."""
_OVERTIME = frozenset({PunchKind.OVERTIME_IN, PunchKind.OVERTIME_OUT})


def duty_of_punch(
    duties: DutyIndex,
    guard_id: str,
    punch: Punch,
    checked_in_at: Callable[[str], datetime | None],
) -> Duty | None:
    """The shift of ``guard_id`` that ``punch`` belongs to (module docstring), or ``None``
    (off duty). ``checked_in_at(shift_id)``: when the machine of that shift has him clocked in,
    if it does."""
    at = punch.punched_at
    on = duties.duty_for_guard(guard_id, at)
    if punch.kind is PunchKind.CHECK_OUT:
        return on if on is not None else _ended_just_before(duties, guard_id, at)
    following = _starting_soon_after(duties, guard_id, at)
    if on is None and punch.kind in _OVERTIME:
        ended = _ended_just_before(duties, guard_id, at, OVERTIME_AFTER)
        if punch.kind is PunchKind.OVERTIME_OUT:
            return ended if ended is not None else following
        return following if following is not None else ended
    if on is None or following is None or punch.kind is not PunchKind.CHECK_IN:
        return on if on is not None else following
    terminal_post = duties.post_of_device(punch.terminal_id)
    if terminal_post == following.post_id != on.post_id:
        return following
    checked_in = checked_in_at(on.shift_id)
    if checked_in is not None and checked_in <= at:
        return following
    return on


def _starting_soon_after(duties: DutyIndex, guard_id: str, at: datetime) -> Duty | None:
    for duty in duties.duties_of_guard(guard_id):
        if at < duty.starts_at <= at + EARLY_CHECK_IN:
            return duty
    return None


def _ended_just_before(
    duties: DutyIndex, guard_id: str, at: datetime, within: timedelta = LATE_CHECK_OUT
) -> Duty | None:
    ended = [
        duty
        for duty in duties.duties_of_guard(guard_id)
        if duty.ends_at <= at < duty.ends_at + within
    ]
    return max(ended, key=lambda duty: duty.ends_at, default=None)
