"""Where a site file's posts are, for terminals placed with ``post:`` in a site-day scenario.

The anchor is the centre of the post's fence in WGS-84 (what a terminal reports): a circle's
centre, or the mean of a polygon's outer-ring vertices (the first polygon of a multipolygon),
converted from the fence's datum (GCJ-02 and BD-09 maps are hundreds of metres off GPS in
China). The fences are read from the site document itself, not through the gateway's loader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fwsim.scenario.fields import Problems
from geofence.datum import bd09_to_gcj02, gcj02_to_wgs84

__all__ = ["post_anchors"]


def _centre(fence: Mapping[str, Any]) -> tuple[float, float]:
    """(lon, lat) of a fence in its own datum."""
    if fence.get("type") == "Circle":
        lon, lat = fence["center"]
        return float(lon), float(lat)
    rings = fence["coordinates"]
    if fence.get("type") == "MultiPolygon":
        rings = rings[0]
    ring = rings[0][:-1] if rings[0][0] == rings[0][-1] else rings[0]
    return sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)


def post_anchors(site: Mapping[str, Any], problems: Problems) -> dict[str, tuple[float, float]]:
    """Post id -> (lat, lon) WGS-84 of every post of every site in the document."""
    out: dict[str, tuple[float, float]] = {}
    for s in site.get("sites") or []:
        for post in s.get("posts") or [] if isinstance(s, Mapping) else []:
            try:
                lon, lat = _centre(post["fence"])
                datum = str(post.get("datum", "wgs84")).lower()
                if datum == "bd09":
                    lon, lat = bd09_to_gcj02(lon, lat)
                    datum = "gcj02"
                if datum == "gcj02":
                    lon, lat = gcj02_to_wgs84(lon, lat)
            except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError):
                problems.add(
                    "site", f"post {post.get('id')!r} has no fence a terminal can stand in"
                )
                continue
            out[str(post["id"])] = (lat, lon)
    return out
