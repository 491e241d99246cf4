"""Times a person typed in: when a guard reported, when a leave was approved or cancelled,
when a leader acknowledged an alert.

Each is a moment that has passed when the request comes, so one later than the gateway's
clock is a typing error, most often a Beijing time written with ``Z`` (UTC), which lands eight
hours ahead. Kept, such a time does harm: a report "made" at 16:04 covers an afternoon outing
no one reported. It is refused (422, naming the field and both times) rather than kept.
``AHEAD_TOLERANCE_S`` allows for the clock of the phone or PC the time came from.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.clock import utc
from gateway.errors import InvalidRequest

__all__ = ["AHEAD_TOLERANCE_S", "typed_moment"]

AHEAD_TOLERANCE_S = 120


def typed_moment(field: str, value: datetime | None, now: datetime) -> datetime:
    """``value`` as aware UTC, ``now`` when not given. Raises ``InvalidRequest`` when it is
    more than ``AHEAD_TOLERANCE_S`` after ``now``."""
    if value is None:
        return now
    moment = utc(value)
    if moment > now + timedelta(seconds=AHEAD_TOLERANCE_S):
        raise InvalidRequest(
            f"{field} {value.isoformat()} is after the gateway's clock ({now.isoformat()}): "
            "it must be a time that has passed; a local time needs its offset "
            "(+08:00 for Beijing time), Z means UTC"
        )
    return moment
