"""Where a simulated guard truly is, and what his terminal reports.

Two parts:

* ``Track``: the guard's *true* path relative to his post's anchor, as a list of legs
  (standing still or walking in a straight line at constant speed). Positions are metres north
  and east of the anchor on a local tangent plane, converted to WGS-84 with a spherical
  approximation that is well under a metre off within a few kilometres.
* ``FixSampler``: turns the true position at an instant into a reported ``SimFix`` with
  realistic receiver error, deterministically from a seeded ``random.Random``.

Error model (documented because tests and demos depend on it):

* Horizontal error is a 2-D Gaussian whose per-axis sigma is ``accuracy_m / 1.5096``, so about
  68 % of fixes fall within ``accuracy_m`` of the true position (the meaning Android and
  OwnTracks give to "accuracy"). The error is a first-order Gauss-Markov process with
  ``correlation_s`` time constant (receiver errors drift rather than jump; 0 = independent per
  fix). A guard standing at his post therefore produces a cloud of fixes around the anchor.
* Multipath (tall buildings): with ``multipath_probability`` per fix (0 = off), a fix is thrown
  50-200 m (``multipath_min_m``..``multipath_max_m``) in a random direction; the *reported*
  accuracy stays nominal, as real terminals do, so the gateway has to catch the jump itself.
* Reported accuracy varies ±20 % around ``accuracy_m``. Speed: the true speed plus 0.1 m/s
  noise while walking; 0-0.3 m/s of Doppler noise while standing. Course: the walking bearing
  ±5°; while standing the last course is held (receivers freeze heading at low speed).
  Altitude: the base altitude with 1.5x the horizontal sigma. Satellites drift between 5 and 14.
  Battery drains linearly from ``battery_pct`` at ``battery_drain_pct_per_h``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass
from datetime import datetime

from fwsim.gps.fix import SimFix

__all__ = [
    "EARTH_RADIUS_M",
    "FixSampler",
    "Leg",
    "NoiseModel",
    "Track",
    "TruePosition",
    "latlon_to_offset",
    "offset_to_latlon",
]

EARTH_RADIUS_M = 6_378_137.0
_SIGMA_PER_ACCURACY = 1.0 / math.sqrt(-2.0 * math.log(1.0 - 0.68))


def offset_to_latlon(
    lat0: float, lon0: float, north_m: float, east_m: float
) -> tuple[float, float]:
    """The WGS-84 point ``north_m``/``east_m`` metres from (``lat0``, ``lon0``)."""
    lat = lat0 + math.degrees(north_m / EARTH_RADIUS_M)
    lon = lon0 + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat0))))
    return lat, lon


def latlon_to_offset(lat0: float, lon0: float, lat: float, lon: float) -> tuple[float, float]:
    """(north_m, east_m) of (``lat``, ``lon``) from (``lat0``, ``lon0``); inverse of the above."""
    north = math.radians(lat - lat0) * EARTH_RADIUS_M
    east = math.radians(lon - lon0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    return north, east


@dataclass(frozen=True, slots=True)
class Leg:
    """From ``t0_s`` to ``t1_s`` (seconds after the scenario start) the guard goes in a straight
    line from ``start`` to ``end`` ((north_m, east_m)); equal ends mean standing still."""

    t0_s: float
    t1_s: float
    start: tuple[float, float]
    end: tuple[float, float]

    @property
    def length_m(self) -> float:
        return math.dist(self.start, self.end)


@dataclass(frozen=True, slots=True)
class TruePosition:
    """The true state at one instant: offset from the anchor, speed, bearing, distance walked."""

    north_m: float
    east_m: float
    speed_mps: float
    bearing_deg: float | None  # None when standing still
    odometer_m: float


class Track:
    """A guard's true path: contiguous legs starting at 0 s. Before the first leg and after the
    last he stands at the ends of the path."""

    def __init__(self, legs: list[Leg]) -> None:
        for before, after in itertools.pairwise(legs):
            if after.t0_s != before.t1_s or after.start != before.end:
                raise ValueError("legs must be contiguous in time and space")
        self.legs = legs
        self._starts = [leg.t0_s for leg in legs]
        self._odometer: list[float] = []
        total = 0.0
        for leg in legs:
            self._odometer.append(total)
            total += leg.length_m

    @property
    def end_s(self) -> float:
        return self.legs[-1].t1_s if self.legs else 0.0

    def at(self, t_s: float) -> TruePosition:
        """The true position ``t_s`` seconds after the scenario start."""
        if not self.legs:
            return TruePosition(0.0, 0.0, 0.0, None, 0.0)
        i = max(0, bisect.bisect_right(self._starts, t_s) - 1)
        leg = self.legs[i]
        span = leg.t1_s - leg.t0_s
        frac = 0.0 if span <= 0 else min(max((t_s - leg.t0_s) / span, 0.0), 1.0)
        north = leg.start[0] + (leg.end[0] - leg.start[0]) * frac
        east = leg.start[1] + (leg.end[1] - leg.start[1]) * frac
        odometer = self._odometer[i] + leg.length_m * frac
        moving = leg.length_m > 0 and span > 0 and leg.t0_s <= t_s < leg.t1_s
        if not moving:
            return TruePosition(north, east, 0.0, None, odometer)
        d_north, d_east = leg.end[0] - leg.start[0], leg.end[1] - leg.start[1]
        bearing = math.degrees(math.atan2(d_east, d_north)) % 360.0
        return TruePosition(north, east, leg.length_m / span, bearing, odometer)


@dataclass(frozen=True, slots=True)
class NoiseModel:
    """Receiver error parameters (see the module docstring)."""

    accuracy_m: float = 8.0
    correlation_s: float = 30.0
    multipath_probability: float = 0.0
    multipath_min_m: float = 50.0
    multipath_max_m: float = 200.0

    def __post_init__(self) -> None:
        if self.accuracy_m <= 0:
            raise ValueError("accuracy_m must be positive")
        if self.correlation_s < 0:
            raise ValueError("correlation_s must not be negative")
        if not 0.0 <= self.multipath_probability <= 1.0:
            raise ValueError("multipath_probability must be within [0, 1]")
        if not 0 <= self.multipath_min_m <= self.multipath_max_m:
            raise ValueError("need 0 <= multipath_min_m <= multipath_max_m")


class FixSampler:
    """Reported fixes of one terminal. Call ``sample`` with non-decreasing times; the same seed
    and the same calls give the same fixes."""

    def __init__(
        self,
        device_id: str,
        anchor: tuple[float, float],
        track: Track,
        noise: NoiseModel,
        rng: random.Random,
        *,
        altitude_m: float = 25.0,
        battery_pct: float | None = 95.0,
        battery_drain_pct_per_h: float = 4.0,
    ) -> None:
        self.device_id = device_id
        self.anchor = anchor
        self.track = track
        self.noise = noise
        self.rng = rng
        self.altitude_m = altitude_m
        self.battery_pct = battery_pct
        self.battery_drain_pct_per_h = battery_drain_pct_per_h
        self._sigma = noise.accuracy_m * _SIGMA_PER_ACCURACY
        self._error: tuple[float, float] | None = None
        self._last_t: float | None = None
        self._course = rng.uniform(0.0, 360.0)
        self._satellites = rng.randint(8, 11)

    def _next_error(self, t_s: float) -> tuple[float, float]:
        """The next error in units of sigma (the process is scaled by the caller, so a step
        that changes the noise keeps its drift)."""
        rng = self.rng
        if self._error is None or self._last_t is None or self.noise.correlation_s == 0:
            error = (rng.gauss(0.0, 1.0), rng.gauss(0.0, 1.0))
        else:
            a = math.exp(-(t_s - self._last_t) / self.noise.correlation_s)
            b = math.sqrt(1.0 - a * a)
            error = (
                a * self._error[0] + b * rng.gauss(0.0, 1.0),
                a * self._error[1] + b * rng.gauss(0.0, 1.0),
            )
        self._error = error
        return error

    def sample(
        self,
        t_s: float,
        when: datetime,
        *,
        sos: bool = False,
        accuracy_m: float | None = None,
        noise_m: float | None = None,
    ) -> SimFix:
        """The fix reported ``t_s`` seconds after the scenario start, stamped ``when`` (UTC).

        ``accuracy_m`` overrides the accuracy reported (still varied ±20 %), ``noise_m`` the
        true error's 68 % radius; each defaults to the noise model's ``accuracy_m``, so the
        two are independent only when a step says so."""
        if self._last_t is not None and t_s < self._last_t:
            raise ValueError("sample times must not go backwards")
        rng, noise = self.rng, self.noise
        true = self.track.at(t_s)
        sigma = self._sigma if noise_m is None else noise_m * _SIGMA_PER_ACCURACY
        unit_n, unit_e = self._next_error(t_s)
        err_n, err_e = unit_n * sigma, unit_e * sigma
        self._last_t = t_s
        if noise.multipath_probability and rng.random() < noise.multipath_probability:
            jump = rng.uniform(noise.multipath_min_m, noise.multipath_max_m)
            angle = rng.uniform(0.0, 2.0 * math.pi)
            err_n += jump * math.cos(angle)
            err_e += jump * math.sin(angle)
        lat, lon = offset_to_latlon(
            self.anchor[0], self.anchor[1], true.north_m + err_n, true.east_m + err_e
        )
        if true.bearing_deg is None:
            speed = min(abs(rng.gauss(0.0, 0.12)), 0.3)
        else:
            speed = max(0.0, true.speed_mps + rng.gauss(0.0, 0.1))
            self._course = (true.bearing_deg + rng.gauss(0.0, 5.0)) % 360.0
        if rng.random() < 0.3:
            self._satellites = min(14, max(5, self._satellites + rng.choice((-1, 1))))
        battery = None
        if self.battery_pct is not None:
            drained = self.battery_pct - self.battery_drain_pct_per_h * t_s / 3600.0
            battery = float(max(1, round(drained)))
        return SimFix(
            device_id=self.device_id,
            time=when,
            lat=lat,
            lon=lon,
            accuracy_m=round((accuracy_m or noise.accuracy_m) * rng.uniform(0.8, 1.2), 1),
            speed_mps=round(speed, 2),
            course_deg=round(self._course, 1) % 360.0,
            altitude_m=round(self.altitude_m + rng.gauss(0.0, 1.5 * sigma), 1),
            satellites=self._satellites,
            battery_pct=battery,
            sos=sos,
            odometer_m=true.odometer_m,
        )
