"""Map datums used in China: WGS-84 (GPS), GCJ-02 (AMap/Gaode, Tencent) and BD-09 (Baidu).

GPS terminals report WGS-84; a post drawn on a Chinese web map is in GCJ-02 or BD-09, which in
Wuhan sit about 590 m and 1.2 km away from WGS-84: more than the size of any post. Every fence is
therefore converted to WGS-84 before it is compared with a fix.

Forward conversions use the published algorithm (the one in every open implementation, e.g.
``wandergis/coordtransform``): a polynomial/trigonometric offset scaled on the Krasovsky ellipsoid
(``a = 6378245.0``, ``ee = 0.00669342162296594323``), applied only inside China's bounding area;
BD-09 is derived from GCJ-02 with the ``x_pi = π·3000/180`` rotation-and-stretch formula.

The inverses have no closed form. They are solved by fixed-point iteration
``w ← w − (F(w) − target)`` starting at ``w = target``: the offset varies by less than 1e-4 per
unit, so each step gains about four digits. The loop stops when the residual ``|F(w) − target|``
is below :data:`INVERSE_TOLERANCE_DEG` (1e-9°, about 0.1 mm) on both axes, or after
:data:`INVERSE_MAX_ITERATIONS` steps; because ``F`` is the identity plus a nearly constant offset,
the error of ``w`` is about the residual, far inside the 0.5 m the fences need.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from enum import StrEnum

__all__ = [
    "INVERSE_MAX_ITERATIONS",
    "INVERSE_TOLERANCE_DEG",
    "Datum",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "parse_datum",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

logger = logging.getLogger(__name__)

_A = 6378245.0
"""Krasovsky 1940 semi-major axis, as in the published GCJ-02 algorithm."""
_EE = 0.00669342162296594323
"""Krasovsky 1940 first eccentricity squared."""
_X_PI = math.pi * 3000.0 / 180.0

INVERSE_TOLERANCE_DEG = 1e-9
"""Stop iterating an inverse when the forward residual is below this on both axes (≈0.1 mm)."""
INVERSE_MAX_ITERATIONS = 30
"""Upper bound on inverse iterations; convergence normally takes 3 or 4."""

_Point = tuple[float, float]


class Datum(StrEnum):
    """The datum a coordinate pair is expressed in."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


def parse_datum(datum: Datum | str) -> Datum:
    """Return ``datum`` as a :class:`Datum`; raise ``ValueError`` naming an unknown one."""
    if isinstance(datum, Datum):
        return datum
    try:
        return Datum(str(datum).strip().lower())
    except ValueError:
        known = ", ".join(d.value for d in Datum)
        raise ValueError(f"unknown datum {datum!r}; expected one of {known}") from None


def out_of_china(lon: float, lat: float) -> bool:
    """True outside the rectangle where GCJ-02 applies an offset.

    The published algorithm's own test: longitude outside [72.004, 137.8347] or latitude outside
    [0.8293, 55.8271]. It is a bounding box, so e.g. Seoul and Hanoi count as "in China"; that is
    what the map providers do, so it is what a drawn fence must be corrected with.
    """
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: float, lat: float) -> _Point:
    """WGS-84 → GCJ-02 (published algorithm); unchanged outside :func:`out_of_china`'s box."""
    if out_of_china(lon, lat):
        return lon, lat
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = math.sin(radlat)
    magic = 1 - _EE * magic * magic
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_bd09(lon: float, lat: float) -> _Point:
    """GCJ-02 → BD-09 (Baidu's published ``x_pi`` formula; applied everywhere, as Baidu does)."""
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def wgs84_to_bd09(lon: float, lat: float) -> _Point:
    """WGS-84 → BD-09, through GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _invert(forward: Callable[[float, float], _Point], lon: float, lat: float) -> _Point:
    """Solve ``forward(w) == (lon, lat)`` by fixed-point iteration (see the module docstring)."""
    w_lon, w_lat = lon, lat
    for _ in range(INVERSE_MAX_ITERATIONS):
        f_lon, f_lat = forward(w_lon, w_lat)
        d_lon, d_lat = f_lon - lon, f_lat - lat
        if abs(d_lon) < INVERSE_TOLERANCE_DEG and abs(d_lat) < INVERSE_TOLERANCE_DEG:
            return w_lon, w_lat
        w_lon -= d_lon
        w_lat -= d_lat
    # Only reachable on the edge of the China box, where the offset jumps; the last estimate is
    # still the best there is.
    logger.debug("datum inverse did not converge at (%r, %r)", lon, lat)
    return w_lon, w_lat


def gcj02_to_wgs84(lon: float, lat: float) -> _Point:
    """GCJ-02 → WGS-84 by iteration; error below 1 mm inside China, exact outside it."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> _Point:
    """BD-09 → GCJ-02 by iteration of :func:`gcj02_to_bd09`."""
    return _invert(gcj02_to_bd09, lon, lat)


def bd09_to_wgs84(lon: float, lat: float) -> _Point:
    """BD-09 → WGS-84 by iteration of the composed forward conversion."""
    return _invert(wgs84_to_bd09, lon, lat)


def to_wgs84(lon: float, lat: float, datum: Datum | str) -> _Point:
    """Convert ``(lon, lat)`` given in ``datum`` to WGS-84; ``ValueError`` for an unknown datum."""
    d = parse_datum(datum)
    if d is Datum.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if d is Datum.BD09:
        return bd09_to_wgs84(lon, lat)
    return lon, lat


def from_wgs84(lon: float, lat: float, datum: Datum | str) -> _Point:
    """Convert WGS-84 ``(lon, lat)`` to ``datum`` (e.g. to draw a fix on a Chinese map)."""
    d = parse_datum(datum)
    if d is Datum.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if d is Datum.BD09:
        return wgs84_to_bd09(lon, lat)
    return lon, lat
