"""Checking a post's fence as drawn: the one place the site loader asks about fence geometry.

Fences are stored exactly as drawn (with their datum) and converted to WGS-84 by ``geofence`` at
run time. The loader only needs to know whether a fence is usable; ``fence_problems`` answers that
and is the single seam to hand the question to ``geofence`` (its ``PostFence`` validation) once
that is wired in. Today it runs its own checks (which name the place in the words of the site-file
reference) and, when they pass, also asks ``geofence.fence.PostFence`` so that nothing the loader
accepts can be refused by the run-time fence code (e.g. a GCJ-02 fence outside China). Checks are
done in the drawing's own coordinates, so the places named are the
ones the author will find on the map they drew on; a datum shift moves a fence by about a
kilometre, which changes neither its validity nor its size.
"""

from __future__ import annotations

import math
import re

from shapely.geometry import MultiPolygon, Polygon
from shapely.validation import explain_validity

from gateway.site.schema import CircleFence, MultiPolygonFence, PolygonFence
from geofence.fence import FenceError, PostFence

__all__ = ["MAX_FENCE_SPAN_M", "MIN_FENCE_SPAN_M", "fence_problems"]

MAX_FENCE_SPAN_M = 20_000.0
"""A fence wider than this is taken as a drawing mistake (swapped or mistyped coordinates)."""
MIN_FENCE_SPAN_M = 2.0
"""A fence narrower than this is a mistake too (a radius written in kilometres, a coordinate
with digits dropped): no post a guard stands at is smaller than a booth, and such a fence
would have him leave it whenever his fix strays past the boundary margin."""

_EARTH_RADIUS_M = 6_371_008.8
_WHERE = re.compile(r"^(?P<what>[^\[]+)\[(?P<x>[-\d.eE+]+) (?P<y>[-\d.eE+]+)\]$")


def fence_problems(fence: PolygonFence | MultiPolygonFence | CircleFence, datum: str) -> list[str]:
    """Every problem with ``fence`` drawn in ``datum``, in words (empty when usable).

    Places are given as ``(lon, lat)`` in the drawing's coordinates.
    """
    problems = _shape_problems(fence)
    if problems:
        return problems
    try:
        PostFence.from_geojson(fence.model_dump(mode="json"), datum=datum)
    except FenceError as exc:
        return [str(exc)]
    return []


def _shape_problems(fence: PolygonFence | MultiPolygonFence | CircleFence) -> list[str]:
    if isinstance(fence, CircleFence):
        problems = _position_problems([fence.center])
        if fence.radius_m * 2 > MAX_FENCE_SPAN_M:
            problems.append(
                f"circle radius {fence.radius_m:g} m is larger than a post can be "
                f"(at most {MAX_FENCE_SPAN_M / 2:g} m)"
            )
        elif fence.radius_m * 2 < MIN_FENCE_SPAN_M:
            problems.append(
                f"circle radius {fence.radius_m:g} m is smaller than a post can be "
                f"(at least {MIN_FENCE_SPAN_M / 2:g} m): radius_m is in metres"
            )
        return problems

    polygons = [fence.coordinates] if isinstance(fence, PolygonFence) else fence.coordinates
    positions = [p for rings in polygons for ring in rings for p in ring]
    problems = _position_problems(positions)
    if problems:
        return problems
    for rings in polygons:
        for ring in rings:
            if len({(p[0], p[1]) for p in ring}) < 3:
                return ["fence ring has fewer than 3 distinct corners"]
    shapes = [Polygon(rings[0], rings[1:]) for rings in polygons]
    geometry: Polygon | MultiPolygon = shapes[0] if len(shapes) == 1 else MultiPolygon(shapes)
    if not geometry.is_valid:
        problems.append(_explain(geometry))
    elif geometry.area == 0:
        problems.append("fence polygon has no area")
    span = _span_m(geometry.bounds)
    if span > MAX_FENCE_SPAN_M:
        problems.append(
            f"fence spans {span / 1000:.1f} km, more than a post can "
            f"({MAX_FENCE_SPAN_M / 1000:g} km): are some coordinates mistyped?"
        )
    elif geometry.area > 0 and span < MIN_FENCE_SPAN_M:
        problems.append(
            f"fence spans {span:.2f} m, less than a post can ({MIN_FENCE_SPAN_M:g} m): "
            "are some coordinates mistyped?"
        )
    return problems


def _position_problems(positions: list[list[float]]) -> list[str]:
    for p in positions:
        lon, lat = p[0], p[1]
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return [f"position {p} is not a number"]
        if not -90 <= lat <= 90 or not -180 <= lon <= 180:
            return [f"position {p} is not [lon, lat] (longitude first, then latitude)"]
    return []


def _explain(geometry: Polygon | MultiPolygon) -> str:
    reason = explain_validity(geometry)
    match = _WHERE.match(reason)
    if match is None:
        return f"fence polygon is invalid: {reason}"
    what = match["what"].strip()
    where = f"({float(match['x']):.5f}, {float(match['y']):.5f})"
    if what == "Self-intersection":
        return f"fence polygon self-intersects near {where}"
    if what == "Ring Self-intersection":
        return f"fence ring touches itself near {where}"
    return f"fence polygon is invalid ({what.lower()}) near {where}"


def _span_m(bounds: tuple[float, float, float, float]) -> float:
    min_lon, min_lat, max_lon, max_lat = bounds
    mid_lat = math.radians((min_lat + max_lat) / 2)
    dx = math.radians(max_lon - min_lon) * math.cos(mid_lat) * _EARTH_RADIUS_M
    dy = math.radians(max_lat - min_lat) * _EARTH_RADIUS_M
    return math.hypot(dx, dy)
