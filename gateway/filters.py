"""Fix filters: drop positions the rules must never see, before the geofence stage.

:class:`FixFilter` is pure apart from its own per-device memory: it reads no clock (``now`` is
passed in) and does no I/O. It is not thread-safe; the pipeline calls it in device order. Given a
:class:`~gateway.pipeline.journal.Journal`, every change to that memory made while a transaction
is open is undone if the transaction fails, so a retried batch is not taken for its own
duplicates.

Checks, in this order (the first that fails names the :class:`DropReason`):

1. ``INVALID_COORDINATES``: latitude or longitude NaN, infinite or out of range
   ([-90, 90], [-180, 180]); also an accuracy that is NaN or negative (a broken record).
2. ``ZERO_COORDINATES``: latitude or longitude exactly 0 (a receiver's "no fix" placeholder;
   no post in the gateway's field lies on the equator or the prime meridian).
3. ``FUTURE_FIX``: ``fix_time > now + future_tolerance_s`` (terminal clock wrong).
4. ``STALE_FIX``: ``now - fix_time > max_fix_age_s``.
5. ``POOR_ACCURACY``: ``accuracy_m > max_accuracy_m`` (an unknown accuracy passes).
6. ``DUPLICATE``: the device already had a fix accepted with the same ``fix_time``, whatever its
   coordinates: a terminal cannot be in two places at one instant, and a re-sent batch may be
   re-encoded with different rounding, so it must not count twice. Memory is bounded: the last
   ``window`` accepted fixes per device (by device time) are remembered, 32 by default (ten
   minutes of a terminal reporting every 20 s), as four numbers each in two arrays: the time as
   a double, the place as whole ten-millionths of a degree (about a centimetre) and the accuracy
   as whole centimetres (about 1.0 kB a device with a full window, its entry in the map
   included: a city's 100,000 terminals take 100 MB). A fix older than every
   remembered one in a full window cannot be checked and is let through unremembered; the
   store's own uniqueness on (device, fix time) is the backstop for such old re-sends, and the
   pipeline does not feed a fix the store already holds to the rules.
7. ``IMPOSSIBLE_JUMP``: the implied speed to a neighbouring accepted fix (in device time) exceeds
   ``max_speed_mps``. Speed = ``max(0, distance − accuracy_a − accuracy_b) / |Δt|``: both
   accuracy radii are taken off the great-circle (haversine, mean Earth radius) distance first, so
   two honest but imprecise fixes are not taken for a jump; an unknown accuracy counts as
   :data:`geofence.DEFAULT_ACCURACY_M`.

   *Late data* (older than the device's newest accepted fix, e.g. a batch stored while the
   terminal was offline) is checked against both its neighbours in time, the accepted fix just
   before it and the one just after it, because that is where it sits in the track. Nothing was
   accepted while the terminal was offline, so the fix before its outage stays among the
   remembered ones until ``window`` live fixes have come after it.

   *Re-anchoring*: if the newest accepted fix was itself an outlier, every later good fix would
   look like a jump from it. So when a new fix is a jump from the newest accepted fix but is
   plausible from the fix dropped as a jump just before it (and that one is newer than the
   anchor), the two agreeing fixes outvote the anchor: the new fix is accepted.

Limits come from the device's site :class:`~gateway.policy.SitePolicy`; each boundary value
itself is accepted (a fix exactly ``max_accuracy_m`` passes).
"""

from __future__ import annotations

import bisect
import logging
import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from gateway.clock import utc
from gateway.pipeline.journal import Journal, JournaledDict
from gateway.policy import SitePolicy
from gateway.records import PositionFix
from geofence import DEFAULT_ACCURACY_M

__all__ = ["EARTH_MEAN_RADIUS_M", "DropReason", "FixFilter", "haversine_m"]

logger = logging.getLogger(__name__)

EARTH_MEAN_RADIUS_M = 6_371_008.8
"""IUGG mean Earth radius; haversine distances are within 0.5 % of the ellipsoid's."""


class DropReason(StrEnum):
    """Why a fix was dropped before the rules."""

    INVALID_COORDINATES = "invalid_coordinates"
    ZERO_COORDINATES = "zero_coordinates"
    FUTURE_FIX = "future_fix"
    STALE_FIX = "stale_fix"
    DUPLICATE = "duplicate"
    IMPOSSIBLE_JUMP = "impossible_jump"
    POOR_ACCURACY = "poor_accuracy"


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points (degrees), on a sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


DEFAULT_WINDOW = 32
"""Accepted fixes remembered per device by default (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class _Accepted:
    """One accepted fix as the checks need it: device time in POSIX seconds, and where."""

    t: float
    lat: float
    lon: float
    accuracy_m: float


_DEGREE_UNITS = 10_000_000
"""Remembered places are whole ten-millionths of a degree (1.1 cm of latitude): exact enough
for a speed check that first takes metres of accuracy off, and half the size of doubles. A
longitude of 180 degrees is 1.8e9 units, within a C int."""
_ACCURACY_UNITS = 100
"""Remembered accuracies are whole centimetres."""
_ACCURACY_CAP_M = 21_000_000.0
"""Accuracies are remembered up to this (within a C int of centimetres): wider than any
distance on Earth (20,015 km), so a larger one excuses every jump the same way."""


def _times() -> array[float]:
    return array("d")


def _places() -> array[int]:
    return array("i")


@dataclass(slots=True)
class _DeviceState:
    """A device's remembered fixes, oldest first: ``times`` (POSIX seconds, ascending, distinct)
    and ``places`` (latitude, longitude and accuracy of each, three integers a fix, in
    ``_DEGREE_UNITS`` and ``_ACCURACY_UNITS``). Plain arrays of numbers: a city's worth of
    devices with full windows, as objects, took gigabytes; as doubles, 140 MB."""

    times: array[float] = field(default_factory=_times)
    places: array[int] = field(default_factory=_places)
    suspect: _Accepted | None = None
    """The last fix dropped as a jump from the newest accepted one (for re-anchoring)."""

    def at(self, index: int) -> _Accepted:
        lat, lon, accuracy = self.places[3 * index : 3 * index + 3]
        return _Accepted(
            self.times[index], lat / _DEGREE_UNITS, lon / _DEGREE_UNITS, accuracy / _ACCURACY_UNITS
        )

    def remember(self, pos: int, fix: _Accepted) -> None:
        """Insert ``fix`` at ``pos`` (its place by time)."""
        self.times.insert(pos, fix.t)
        self.places[3 * pos : 3 * pos] = array(
            "i",
            (
                round(fix.lat * _DEGREE_UNITS),
                round(fix.lon * _DEGREE_UNITS),
                round(min(fix.accuracy_m, _ACCURACY_CAP_M) * _ACCURACY_UNITS),
            ),
        )


def _implied_speed_mps(a: _Accepted, b: _Accepted) -> float:
    dt = abs(b.t - a.t)
    distance = haversine_m(a.lat, a.lon, b.lat, b.lon)
    effective = max(0.0, distance - a.accuracy_m - b.accuracy_m)
    if effective == 0.0:
        return 0.0
    return math.inf if dt == 0 else effective / dt


class FixFilter:
    """Per-device stateful filter; see the module docstring for the checks and their order.

    ``policy_for(device_id)`` returns the policy of the device's site. ``window`` bounds the
    accepted fixes remembered per device (for duplicates and jumps). ``journal``: while it has
    a transaction open, a device's memory is copied before its first change in the transaction
    and the copy put back if the transaction rolls back.
    """

    def __init__(
        self,
        policy_for: Callable[[str], SitePolicy],
        *,
        window: int = DEFAULT_WINDOW,
        journal: Journal | None = None,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self._policy_for = policy_for
        self._window = window
        self._journal = journal or Journal()
        self._devices: dict[str, _DeviceState] = JournaledDict(self._journal)

    def check(self, fix: PositionFix, now: datetime) -> DropReason | None:
        """``None`` if ``fix`` is accepted (and remembered), else why it is dropped. The
        pipeline counts the drops (``dropped.<reason>``); the filter keeps no counters."""
        reason = self._reason(fix, utc(now))
        if reason is None:
            return None
        logger.debug(
            "dropped fix of %s at %s: %s", fix.device_id, fix.fix_time.isoformat(), reason.value
        )
        return reason

    def _reason(self, fix: PositionFix, now: datetime) -> DropReason | None:
        lat, lon, acc = fix.lat, fix.lon, fix.accuracy_m
        if not (
            math.isfinite(lat)
            and math.isfinite(lon)
            and -90.0 <= lat <= 90.0
            and -180.0 <= lon <= 180.0
        ) or (acc is not None and (math.isnan(acc) or acc < 0)):
            return DropReason.INVALID_COORDINATES
        if lat == 0.0 or lon == 0.0:
            return DropReason.ZERO_COORDINATES
        policy = self._policy_for(fix.device_id)
        fix_time = utc(fix.fix_time)
        age_s = (now - fix_time).total_seconds()
        if -age_s > policy.future_tolerance_s:
            return DropReason.FUTURE_FIX
        if age_s > policy.max_fix_age_s:
            return DropReason.STALE_FIX
        if acc is not None and acc > policy.max_accuracy_m:
            return DropReason.POOR_ACCURACY

        state = self._devices.get(fix.device_id) or _DeviceState()
        t = fix_time.timestamp()
        pos = bisect.bisect_left(state.times, t)
        if pos < len(state.times) and state.times[pos] == t:
            return DropReason.DUPLICATE
        state = self._writable(fix.device_id, state)
        candidate = _Accepted(t, lat, lon, DEFAULT_ACCURACY_M if acc is None else acc)
        count = len(state.times)
        before = state.at(pos - 1) if pos > 0 else None
        after = state.at(pos) if pos < count else None
        limit = policy.max_speed_mps

        if after is None:  # the newest fix of the device
            if before is not None and _implied_speed_mps(before, candidate) > limit:
                suspect = state.suspect
                if (
                    suspect is None
                    or suspect.t <= before.t
                    or suspect.t >= t
                    or _implied_speed_mps(suspect, candidate) > limit
                ):
                    state.suspect = candidate
                    return DropReason.IMPOSSIBLE_JUMP
                logger.info(
                    "%s: two agreeing fixes outvote an outlying one at %s; re-anchored",
                    fix.device_id,
                    datetime.fromtimestamp(before.t, UTC).isoformat(),
                )
            state.suspect = None
        else:  # late data: it must fit between its neighbours in time
            if before is None and count >= self._window:
                return None  # older than the whole (full) window: cannot be checked, see above
            for neighbour in (before, after):
                if neighbour is not None and _implied_speed_mps(neighbour, candidate) > limit:
                    return DropReason.IMPOSSIBLE_JUMP

        state.remember(pos, candidate)
        if count + 1 > self._window:
            del state.times[0]
            del state.places[0:3]
        return None

    def _writable(self, device_id: str, state: _DeviceState) -> _DeviceState:
        """The device's memory, ready to be changed: a copy the first time in a transaction
        (the journaled map keeps the original to put back), else ``state`` itself."""
        known = self._devices.get(device_id) is state
        first = self._journal.first_touch((id(self), device_id))
        if known and not first:
            return state
        if known:
            state = _DeviceState(state.times[:], state.places[:], state.suspect)
        self._devices[device_id] = state
        return state
