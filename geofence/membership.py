"""Where a fix stands relative to a post's fence, accounting for GPS accuracy.

The rule (``d`` = signed distance from the fix to the fence boundary in metres, negative inside;
``a`` = the fix's accuracy radius; ``m`` = the site's boundary margin):

* **INSIDE** when ``d <= 0`` (the reported position is within the fence, whatever its accuracy:
  a guard is never pushed out by uncertainty) or ``d + a <= m`` (even the far edge of the
  accuracy circle stays within the margin band around the fence);
* **OUTSIDE** only when ``d > m + a``: the whole accuracy circle lies beyond the margin band;
* **UNCERTAIN** otherwise; the caller keeps the previous state.

An unknown accuracy (``None``) counts as :data:`DEFAULT_ACCURACY_M` (10 m: a typical city fix).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fence import PostFence

__all__ = ["DEFAULT_ACCURACY_M", "Membership", "MembershipResult", "classify", "classify_distance"]

DEFAULT_ACCURACY_M = 10.0
"""Accuracy assumed for a fix that does not report one."""


class Membership(StrEnum):
    """INSIDE / OUTSIDE only when the accuracy circle plus margin is clear of the boundary."""

    INSIDE = "inside"
    OUTSIDE = "outside"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class MembershipResult:
    """The verdict and the signed distance to the boundary (metres, negative inside)."""

    membership: Membership
    distance_m: float


def classify_distance(
    distance_m: float, accuracy_m: float | None, margin_m: float
) -> MembershipResult:
    """Apply the module's rule to an already computed signed distance.

    Raises ``ValueError`` for a non-finite distance, a negative or non-finite accuracy, or a
    negative or non-finite margin.
    """
    if not math.isfinite(distance_m):
        raise ValueError(f"distance must be finite, got {distance_m}")
    accuracy = DEFAULT_ACCURACY_M if accuracy_m is None else accuracy_m
    if not (math.isfinite(accuracy) and accuracy >= 0):
        raise ValueError(f"accuracy must be a finite number >= 0 metres, got {accuracy_m}")
    if not (math.isfinite(margin_m) and margin_m >= 0):
        raise ValueError(f"margin must be a finite number >= 0 metres, got {margin_m}")
    if distance_m <= 0 or distance_m + accuracy <= margin_m:
        verdict = Membership.INSIDE
    elif distance_m > margin_m + accuracy:
        verdict = Membership.OUTSIDE
    else:
        verdict = Membership.UNCERTAIN
    return MembershipResult(verdict, distance_m)


def classify(
    fence: PostFence, lon: float, lat: float, accuracy_m: float | None, margin_m: float
) -> MembershipResult:
    """Classify the WGS-84 fix ``(lon, lat)`` against ``fence`` (see the module rule)."""
    return classify_distance(fence.signed_distance_m(lon, lat), accuracy_m, margin_m)
