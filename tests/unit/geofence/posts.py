"""A post as a site administrator would draw it: a ~60 m square on an AMap (GCJ-02) map of Wuhan."""

from __future__ import annotations

from typing import Any

from geofence import SiteProjection, gcj02_to_wgs84

GATE_GCJ02 = (114.3110, 30.5900)
"""Centre of the post as read off the GCJ-02 map (a gate near Wuhan's Jianghan road)."""
HALF_SIDE_M = 30.0


def square_around(lon: float, lat: float, half_side_m: float) -> list[list[float]]:
    """Corners (closed ring) of a square ``2·half_side_m`` wide centred on ``(lon, lat)``."""
    local = SiteProjection(lon, lat)
    h = half_side_m
    corners = [local.inverse(x, y) for x, y in ((-h, -h), (h, -h), (h, h), (-h, h), (-h, -h))]
    return [[c[0], c[1]] for c in corners]


def gate_post_gcj02() -> dict[str, Any]:
    """The post's GeoJSON Polygon, coordinates in GCJ-02."""
    return {"type": "Polygon", "coordinates": [square_around(*GATE_GCJ02, HALF_SIDE_M)]}


def gate_centre_wgs84() -> tuple[float, float]:
    """Where the post's centre really is (WGS-84), i.e. where a guard's GPS puts him."""
    return gcj02_to_wgs84(*GATE_GCJ02)
