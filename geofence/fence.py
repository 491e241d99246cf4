"""A post's fence: loaded from GeoJSON (or a circle), validated, converted to WGS-84, projected.

Accepted shapes (``[lon, lat]`` order, as GeoJSON says; an optional third number is ignored):

* GeoJSON ``Polygon`` and ``MultiPolygon``, holes allowed. A ring whose last point differs from
  its first is closed automatically (map drawing tools often omit the repeated point and the
  intent is unambiguous); a ring needs at least 3 distinct corners.
* A circle: ``{"type": "Circle", "center": [lon, lat], "radius_m": r}``, or a GeoJSON ``Point``
  with ``"radius_m"`` beside ``coordinates``. Only the centre is converted between datums; the
  radius is metres on the ground. Distances to a circle are exact (centre distance minus radius);
  for the spatial index and for drawing, the circle is also kept as a 64-sided polygon inscribed
  in it (radial error at most ``r·(1 − cos(π/64))``, 0.12 % of the radius).
* A GeoJSON ``Feature`` wrapping one of the above (a circle's ``radius_m`` may then sit in the
  feature's ``properties``).

Every vertex is converted from the drawing's datum to WGS-84 one by one, then the geometry is
projected onto the site's metric plane (:class:`~geofence.projection.SiteProjection`).

Problems raise :class:`FenceError` with a message a site administrator can act on; the caller
adds where the fence came from (site, post id).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.validation import explain_validity

from .datum import Datum, out_of_china, parse_datum, to_wgs84
from .projection import SiteProjection

__all__ = ["CIRCLE_SEGMENTS", "FenceError", "PostFence"]

CIRCLE_SEGMENTS = 64
"""Sides of the polygon that stands in for a circle in the index and on maps."""

_Position = tuple[float, float]


class FenceError(ValueError):
    """A fence definition that cannot be used, with the reason in plain words."""


@dataclass(frozen=True, slots=True)
class _Circle:
    lon: float
    lat: float
    radius_m: float


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _position(raw: Any, where: str, datum: Datum) -> _Position:
    """Validate one ``[lon, lat]`` position and return it as floats (still in ``datum``)."""
    if (
        not isinstance(raw, Sequence)
        or isinstance(raw, str | bytes)
        or len(raw) not in (2, 3)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
    ):
        raise FenceError(
            f"{where}: expected a position [longitude, latitude], got {_describe(raw)}"
        )
    lon, lat = float(raw[0]), float(raw[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise FenceError(f"{where}: coordinates must be finite numbers, got [{lon}, {lat}]")
    swapped_hint = " (are longitude and latitude swapped? GeoJSON order is [longitude, latitude])"
    if not -90.0 <= lat <= 90.0:
        hint = swapped_hint if -90.0 <= lon <= 90.0 and -180.0 <= lat <= 180.0 else ""
        raise FenceError(f"{where}: latitude {lat} is out of range [-90, 90]{hint}")
    if not -180.0 <= lon <= 180.0:
        raise FenceError(f"{where}: longitude {lon} is out of range [-180, 180]")
    if datum is not Datum.WGS84 and out_of_china(lon, lat):
        # GCJ-02 and BD-09 only exist for maps of China; a point outside means a wrong datum or
        # swapped axes, and silently skipping the correction would misplace the fence.
        hint = swapped_hint if not out_of_china(lat, lon) else ""
        raise FenceError(
            f"{where}: [{lon}, {lat}] is outside China, where {datum.value} is not used{hint}"
        )
    return lon, lat


def _ring(raw: Any, where: str, datum: Datum) -> list[_Position]:
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise FenceError(f"{where}: expected a list of positions, got {_describe(raw)}")
    points = [_position(p, f"{where}, point {i}", datum) for i, p in enumerate(raw)]
    if points and points[0] != points[-1]:
        points.append(points[0])
    distinct = len(set(points))
    if distinct < 3:
        raise FenceError(
            f"{where}: has {distinct} distinct point(s); a ring needs at least 3 corners"
        )
    return points


def _polygon(raw: Any, where: str, datum: Datum) -> list[list[_Position]]:
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes) or not raw:
        raise FenceError(f"{where}: a polygon needs at least one ring (its outline)")
    return [
        _ring(r, f"{where}, {'outline' if i == 0 else f'hole {i}'}", datum)
        for i, r in enumerate(raw)
    ]


def _check_valid(geom: Any, where: str) -> None:
    """Reject self-intersections and other invalid shapes, saying where (in input coordinates)."""
    if geom.convex_hull.area <= 0:
        raise FenceError(f"{where}: the shape has no area (all corners on one line?)")
    if not geom.is_valid:
        reason = explain_validity(geom)
        # GEOS says e.g. "Self-intersection[114.3 30.5]"; restate the place as [lon, lat].
        m = re.fullmatch(r"\s*(.*?)\s*\[(\S+) (\S+)\]\s*", reason)
        if m:
            reason = f"{m.group(1).lower()} at [{m.group(2)}, {m.group(3)}] (as drawn)"
        raise FenceError(f"{where}: the shape is not valid: {reason}")


def _radius(raw: Any, where: str) -> float:
    if raw is None:
        raise FenceError(f"{where}: a circle needs 'radius_m' (metres)")
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise FenceError(f"{where}: radius_m must be a number of metres, got {_describe(raw)}")
    if raw <= 0:
        raise FenceError(f"{where}: radius_m must be greater than 0, got {raw}")
    return float(raw)


def _parse(shape: Any, datum: Datum) -> Any | _Circle:
    """Validate ``shape``; return a WGS-84 shapely polygon/multipolygon or a WGS-84 circle."""
    if not isinstance(shape, Mapping):
        raise FenceError(f"a fence must be a GeoJSON object, got {_describe(shape)}")
    kind = shape.get("type")
    radius_raw = shape.get("radius_m")
    if kind == "Feature":
        props = shape.get("properties") or {}
        geometry = shape.get("geometry")
        if not isinstance(geometry, Mapping):
            raise FenceError("the Feature has no geometry")
        if "radius_m" not in geometry and isinstance(props, Mapping) and "radius_m" in props:
            geometry = {**geometry, "radius_m": props["radius_m"]}
        return _parse(geometry, datum)
    if kind in ("Circle", "Point"):
        raw_center = shape.get("center") if kind == "Circle" else shape.get("coordinates")
        if raw_center is None:
            raise FenceError(f"the {kind} has no {'center' if kind == 'Circle' else 'coordinates'}")
        lon, lat = _position(raw_center, f"{kind} centre", datum)
        radius_m = _radius(radius_raw, kind)
        wlon, wlat = to_wgs84(lon, lat, datum)
        return _Circle(wlon, wlat, radius_m)
    if kind not in ("Polygon", "MultiPolygon"):
        raise FenceError(
            f"unsupported fence type {kind!r}; use Polygon, MultiPolygon, Circle or Point+radius_m"
        )
    coords = shape.get("coordinates")
    if coords is None or (isinstance(coords, Sequence) and not coords):
        raise FenceError(f"the {kind} is empty (no coordinates)")
    parts: list[list[list[_Position]]]
    if kind == "Polygon":
        parts = [_polygon(coords, "polygon", datum)]
    else:
        if not isinstance(coords, Sequence) or isinstance(coords, str | bytes):
            raise FenceError(f"MultiPolygon coordinates must be a list, got {_describe(coords)}")
        parts = [_polygon(p, f"polygon {i}", datum) for i, p in enumerate(coords)]
    drawn = MultiPolygon([Polygon(rings[0], rings[1:]) for rings in parts])
    if kind == "Polygon":
        drawn = drawn.geoms[0]
    _check_valid(drawn, kind)
    if datum is Datum.WGS84:
        return drawn
    return shapely.transform(drawn, lambda xy: _coords_to_wgs84(xy, datum))


def _coords_to_wgs84(xy: Any, datum: Datum) -> Any:
    out = xy.copy()
    for i in range(len(out)):
        out[i, 0], out[i, 1] = to_wgs84(float(xy[i, 0]), float(xy[i, 1]), datum)
    return out


class PostFence:
    """One post's fence, in WGS-84 and in a site's metric plane.

    Build with :meth:`from_geojson`. ``wgs84`` is a shapely (Multi)Polygon in lon/lat degrees,
    ``metric`` the same in the plane of ``projection`` (metres). Use :meth:`reproject` to move a
    fence into another site plane (all posts of a site share one).
    """

    __slots__ = ("_center_xy", "_circle", "_metric", "_wgs84", "projection")

    def __init__(self, shape: Any | _Circle, projection: SiteProjection) -> None:
        self._circle = shape if isinstance(shape, _Circle) else None
        self.projection = projection
        self._center_xy: tuple[float, float] | None = None
        if self._circle is not None:
            self._center_xy = projection.forward(self._circle.lon, self._circle.lat)
            # A circle's polygons are made on first use (the map, a checkpoint's centre): the
            # pipeline needs only its centre and radius, and a roster of 100,000 posts is read
            # at every refresh, where unprojecting each circle was more than half the cost and
            # the plane polygons held about 1.5 KB a post.
            self._metric: Any = None
            self._wgs84: Any = None
        else:
            self._wgs84 = shape
            self._metric = projection.project_geometry(shape)

    @property
    def metric(self) -> Any:
        """The fence in the site plane, metres (a circle's: a 64-segment polygon)."""
        if self._metric is None and self._center_xy is not None and self._circle is not None:
            cx, cy = self._center_xy
            self._metric = Point(cx, cy).buffer(
                self._circle.radius_m, quad_segs=CIRCLE_SEGMENTS // 4
            )
        return self._metric

    @property
    def wgs84(self) -> Any:
        """The fence in WGS-84 lon/lat degrees (a circle's: its plane polygon, unprojected)."""
        if self._wgs84 is None:
            self._wgs84 = self.projection.unproject_geometry(self.metric)
        return self._wgs84

    @classmethod
    def from_geojson(
        cls,
        shape: Mapping[str, Any],
        *,
        datum: Datum | str = Datum.WGS84,
        projection: SiteProjection | None = None,
    ) -> PostFence:
        """Validate and load ``shape`` drawn in ``datum``.

        ``projection`` defaults to one centred on the fence itself. Raises :class:`FenceError`
        (also for an unknown datum).
        """
        try:
            d = parse_datum(datum)
        except ValueError as exc:
            raise FenceError(str(exc)) from None
        parsed = _parse(shape, d)
        if projection is None:
            if isinstance(parsed, _Circle):
                projection = SiteProjection(parsed.lon, parsed.lat)
            else:
                c = parsed.envelope.centroid
                projection = SiteProjection(c.x, c.y)
        return cls(parsed, projection)

    @property
    def is_circle(self) -> bool:
        return self._circle is not None

    @property
    def circle(self) -> tuple[float, float, float] | None:
        """``(lon, lat, radius_m)`` in WGS-84 for a circular fence, else ``None``."""
        c = self._circle
        return None if c is None else (c.lon, c.lat, c.radius_m)

    def reproject(self, projection: SiteProjection) -> PostFence:
        """The same fence in another site plane."""
        if projection == self.projection:
            return self
        return PostFence(self._circle if self._circle is not None else self.wgs84, projection)

    def signed_distance_xy(self, x: float, y: float) -> float:
        """Signed distance in metres from plane point ``(x, y)`` to the fence boundary.

        Negative inside, positive outside, 0 on the boundary. Exact for circles.
        """
        if self._circle is not None and self._center_xy is not None:
            cx, cy = self._center_xy
            return math.hypot(x - cx, y - cy) - self._circle.radius_m
        p = Point(x, y)
        if self.metric.covers(p):
            return -float(self.metric.boundary.distance(p))
        return float(self.metric.distance(p))

    def signed_distance_m(self, lon: float, lat: float) -> float:
        """Signed distance in metres from WGS-84 ``(lon, lat)`` to the fence boundary."""
        return self.signed_distance_xy(*self.projection.forward(lon, lat))

    def __repr__(self) -> str:
        if self._circle is not None:
            c = self._circle
            return f"PostFence(circle lon={c.lon:.6f} lat={c.lat:.6f} r={c.radius_m} m)"
        return f"PostFence({self.wgs84.geom_type}, area={self.metric.area:.0f} m²)"
