"""Fence geometry: datums, metric projection and accuracy-aware membership.

Depends on shapely (and numpy through it) and the standard library only; never imports
``gateway``.
"""

from .datum import (
    Datum,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    parse_datum,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from .fence import FenceError, PostFence
from .membership import (
    DEFAULT_ACCURACY_M,
    Membership,
    MembershipResult,
    classify,
    classify_distance,
)
from .projection import SiteProjection

__all__ = [
    "DEFAULT_ACCURACY_M",
    "Datum",
    "FenceError",
    "Membership",
    "MembershipResult",
    "PostFence",
    "SiteProjection",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "classify",
    "classify_distance",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "parse_datum",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]
