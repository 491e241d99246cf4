"""The "where is everyone now" view (art. 5.3: the team leader knows each position in real time).

Built on the pipeline's owner thread from the in-memory rule states, so it is as fresh as the
last processed fix and costs no database query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.clock import Clock
from gateway.pipeline.duty import Duty
from gateway.pipeline.processor import Processor
from gateway.rules import PresenceState
from gateway.rules.entries import Departure
from geofence.datum import Datum, from_wgs84

__all__ = ["OVER_LIMITS", "STANDINGS", "whereabouts"]

STANDINGS = ("not_arrived", "on_post", "away_unreported", "away_reported", "on_leave")
"""What ``standing`` may say, the live page's legend: ``state`` with the departure's cover."""

OVER_LIMITS = ("overtime", "leave_overrun")
"""What ``over_limit`` may say of a guard still away: past the 15 minutes a verbal report (or
none) covers, or past the end of his leave."""


def whereabouts(processor: Processor, clock: Clock, datum: Datum | None = None) -> dict[str, Any]:
    """Every guard on duty now: post, state, since when, last fix, open alert keys.

    ``state`` is one of ``not_arrived``, ``on_post``, ``off_post``; ``standing`` refines
    ``off_post`` by what covers the departure (one of ``STANDINGS``); ``over_limit`` says
    which limit of the outing under way has fallen (one of ``OVER_LIMITS``, the latest while
    its alert is open in the rules; ``None`` otherwise); ``silent`` says the terminal has not
    been heard for longer than the site's limit. The last fix is WGS-84;
    ``datum`` (a map's) adds it converted as ``last_fix.map`` ``{datum, lat, lon}``.
    """
    now = clock.now()
    guards = []
    for duty in sorted(processor.duties.active(now), key=lambda d: d.guard_id):
        guards.append(_guard(processor, duty, processor.state(duty.shift_id), datum))
    return {"time": now.isoformat(), "guards": guards}


def _guard(
    processor: Processor, duty: Duty, state: PresenceState | None, datum: Datum | None
) -> dict[str, Any]:
    status, since = _status(duty, state, processor.presence_since.get(duty.shift_id))
    last = processor.last_fix.get(duty.guard_id)
    last_fix: dict[str, Any] | None = None
    if last is not None and last.shift_id == duty.shift_id:
        last_fix = {
            "device_id": last.device_id,
            "fix_time": last.fix_time.isoformat(),
            "received_at": last.received_at.isoformat(),
            "lat": last.lat,
            "lon": last.lon,
            "accuracy_m": last.accuracy_m,
            "membership": last.membership,
            "distance_m": round(last.distance_m, 1),
        }
        if datum is not None:
            lon, lat = from_wgs84(last.lon, last.lat, datum)
            last_fix["map"] = {"datum": datum.value, "lat": lat, "lon": lon}
    departure = state.departure if state is not None else None
    standing = status
    if departure is not None:
        if departure.leave_id is not None:
            standing = "on_leave"
        elif departure.report_id is not None:
            standing = "away_reported"
        else:
            standing = "away_unreported"
    return {
        "guard_id": duty.guard_id,
        "guard_name": duty.guard_name,
        "team": duty.team,
        "site_id": duty.site_id,
        "post_id": duty.post_id,
        "post_name": duty.post_name,
        "shift_id": duty.shift_id,
        "shift_start": duty.starts_at.isoformat(),
        "shift_end": duty.ends_at.isoformat(),
        "state": status,
        "standing": standing,
        "over_limit": None if departure is None else _over_limit(departure),
        "since": None if since is None else since.isoformat(),
        "silent": bool(state is not None and state.silent_since is not None),
        "covered_by": None
        if departure is None
        else {"report_id": departure.report_id, "leave_id": departure.leave_id},
        "open_alerts": list(departure.open_alerts) if departure is not None else [],
        "last_fix": last_fix,
    }


def _status(
    duty: Duty, state: PresenceState | None, last_change: datetime | None
) -> tuple[str, datetime | None]:
    if state is None or state.arrived_at is None:
        return "not_arrived", duty.starts_at
    if state.departure is not None:
        return "off_post", state.departure.started_at
    return "on_post", last_change or state.arrived_at


def _over_limit(departure: Departure) -> str | None:
    # The rules keep an off-post limit's alert among the outing's open ones until he is back
    # or a report or leave typed in late withdraws it: then he is no longer over it.
    for key, _fell in reversed(departure.limits_fell):
        if key in departure.open_alerts:
            return "overtime" if key == departure.overtime_alert else "leave_overrun"
    return None
