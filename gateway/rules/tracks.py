"""A guard's devices fused: one track per worn device, each judged on its own fixes.

The policy, in the terms of the field (DOMAIN.md, "two devices per guard"):

* **Order is kept per device.** A fix older than its own device's last one is history (stored,
  not replayed); a device whose clock lags another's is still heard.
* **A departure needs evidence spanning the confirmation time.** Each worn device has an
  *outside run*: its consecutive fixes clearly outside the post (an UNCERTAIN fix neither extends
  nor breaks it; the device's own INSIDE fix ends it). A run confirms a departure once it holds at
  least two fixes at least ``departure_confirm_s`` apart in device time. One fix, however far
  out, never does: a multipath outlier among power-saving fixes three minutes apart raises
  nothing. A terminal that goes silent after a single outside fix raises ``alert.device_silent``
  instead, since nobody can say where the guard is.
* **The guard is where his worn, moving device is.** He has departed as soon as one worn device's
  run confirms it; another device inside does not undo that (a device can be left in the booth, a
  guard cannot be in two places), unless that device has moved inside the post since the run
  began: then the device outside is the one left (dropped, handed over) and he is on post.
* **A device left behind is a fact worth reporting.** A worn device is *still* while its fixes
  stay within ``still_radius_m`` (plus both fixes' accuracy) of where its still period began. One
  that is inside the post, still since before the departure began and seen so by a fix taken
  since it began, while another is confirmed away, was left behind:
  ``alert.device_left_behind``.
* **Fixed equipment places the guard.** A scan or punch with his own tag, card or PIN at the
  post's reader or terminal (``worn=False``) ends every outside run begun before it.
* **A return needs the guard back**: inside evidence from a device that was away, from a worn
  device that moved since the departure began (so it is with him), or from fixed equipment.
* **An arrival needs the guard staying**, as a return does: a device's *inside run* (its
  consecutive fixes clearly inside; its own OUTSIDE fix ends it) is kept with the gap before
  its first fix, so one fix inside among fixes outside (a terminal passing the post in a car)
  is told from a guard who came (:func:`gateway.rules.deadlines.arrival_due`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.policy import SitePolicy
from geofence.membership import Membership

from .copying import replace
from .entries import FixEvidence, iso, opt_evidence, opt_evidence_json, to_dt
from .events import Json

__all__ = ["DeviceTrack", "distance_m", "observe"]

_EARTH_RADIUS_M = 6_371_008.8


def distance_m(a: FixEvidence, b: FixEvidence) -> float:
    """Approximate ground distance between two fixes (equirectangular; metres over a post)."""
    mean_lat = math.radians((a.lat + b.lat) / 2)
    dx = math.radians(b.lon - a.lon) * math.cos(mean_lat)
    dy = math.radians(b.lat - a.lat)
    return _EARTH_RADIUS_M * math.hypot(dx, dy)


@dataclass(frozen=True, slots=True)
class DeviceTrack:
    """What the rules know of one worn device in this shift.

    ``inside`` is its latest definite verdict (``None`` before any). ``run_first``/``run_last``
    and ``run_count`` describe its current outside run; ``still_since`` is the fix where its
    current still period began. ``inside_first`` is the first fix of its current inside run
    and ``inside_gap_s`` the device time from its fix before to that one (``None``: it was the
    device's first in the shift).
    """

    device_id: str
    last_fix_time: datetime
    inside: bool | None = None
    run_first: FixEvidence | None = None
    run_last: FixEvidence | None = None
    run_count: int = 0
    still_since: FixEvidence | None = None
    inside_first: FixEvidence | None = None
    inside_gap_s: float | None = None

    def run_confirms(self, policy: SitePolicy) -> bool:
        """Its outside run is evidence of a departure: two fixes or more, spanning the
        confirmation time."""
        first, last = self.run_first, self.run_last
        if first is None or last is None or self.run_count < 2:
            return False
        return last.fix_time - first.fix_time >= timedelta(seconds=policy.departure_confirm_s)

    def ended_run(self) -> DeviceTrack:
        return replace(self, run_first=None, run_last=None, run_count=0)

    def moved_after(self, when: datetime) -> bool:
        """The device's current still period began after ``when``: it moved since."""
        return self.still_since is not None and self.still_since.fix_time > when

    def left_behind_at(self, started_at: datetime) -> bool:
        """Inside, still since before ``started_at``, and seen so since it: its newest fix is
        dated at or after ``started_at``. A device whose newest fix predates the departure may
        have gone out with him (its fixes reaching the gateway late, or not yet taken): it is
        judged on its next fix, as ``note_left_behind`` looks again at every inside fix."""
        return (
            self.inside is True
            and self.still_since is not None
            and self.still_since.fix_time <= started_at
            and self.last_fix_time >= started_at
        )

    def to_json(self) -> dict[str, Json]:
        return {
            "device_id": self.device_id,
            "last_fix_time": iso(self.last_fix_time),
            "inside": self.inside,
            "run_first": opt_evidence_json(self.run_first),
            "run_last": opt_evidence_json(self.run_last),
            "run_count": self.run_count,
            "still_since": opt_evidence_json(self.still_since),
            "inside_first": opt_evidence_json(self.inside_first),
            "inside_gap_s": self.inside_gap_s,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeviceTrack:
        inside = data["inside"]
        gap = data.get("inside_gap_s")
        return cls(
            device_id=str(data["device_id"]),
            last_fix_time=to_dt(data["last_fix_time"]),
            inside=None if inside is None else bool(inside),
            run_first=opt_evidence(data["run_first"]),
            run_last=opt_evidence(data["run_last"]),
            run_count=int(data["run_count"]),
            still_since=opt_evidence(data["still_since"]),
            # Absent from a state stored before arrivals were confirmed: no inside run known.
            inside_first=opt_evidence(data.get("inside_first")),
            inside_gap_s=None if gap is None else float(gap),
        )


def _still(track: DeviceTrack | None, evidence: FixEvidence, policy: SitePolicy) -> FixEvidence:
    """Where the device's still period began, after ``evidence``."""
    anchor = None if track is None else track.still_since
    if anchor is None:
        return evidence
    radius = policy.still_radius_m + (anchor.accuracy_m or 0.0) + (evidence.accuracy_m or 0.0)
    return anchor if distance_m(anchor, evidence) <= radius else evidence


def observe(
    track: DeviceTrack | None,
    evidence: FixEvidence,
    membership: Membership,
    policy: SitePolicy,
    *,
    arriving: bool = True,
) -> DeviceTrack:
    """The device's track after one more of its own fixes (in its device-time order).

    ``arriving``: the guard has not arrived yet, so its inside run is kept for the arrival
    (``inside_first``); once he has, it is not (the state is written after every fix)."""
    base = track or DeviceTrack(evidence.device_id, evidence.fix_time)
    heard = evidence.fix_time
    still = _still(track, evidence, policy)
    # One copy a fix (this runs for every fix of a worn device).
    if membership is Membership.INSIDE:  # its own inside fix ends the outside run
        first, gap = base.inside_first, base.inside_gap_s
        if not arriving:
            first, gap = None, None
        elif first is None:
            first = evidence
            gap = None if track is None else (heard - track.last_fix_time).total_seconds()
        return replace(
            base,
            last_fix_time=heard,
            still_since=still,
            inside=True,
            run_first=None,
            run_last=None,
            run_count=0,
            inside_first=first,
            inside_gap_s=gap,
        )
    if membership is Membership.OUTSIDE:
        return replace(
            base,
            last_fix_time=heard,
            still_since=still,
            inside=False,
            run_first=base.run_first or evidence,
            run_last=evidence,
            run_count=base.run_count + 1,
            inside_first=None,
            inside_gap_s=None,
        )
    return replace(base, last_fix_time=heard, still_since=still)
