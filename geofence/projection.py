"""A per-site metric plane: a transverse Mercator projection centred on the site.

Distances are never computed in degrees (a degree of longitude in Wuhan is 96 km, of latitude
111 km). Each site gets its own transverse Mercator projection on the WGS-84 ellipsoid with the
central meridian through the site's origin, scale 1 on that meridian and false northing chosen so
the origin maps to ``(0, 0)``; x grows east, y north, both in metres.

The formulas are Krüger's series in the third flattening ``n`` to third order (the form used for
UTM, see Karney, "Transverse Mercator with an accuracy of a few nanometers", J. Geodesy 85, 2011)
with the exact conformal-latitude relation, accurate to a fraction of a millimetre within several
hundred kilometres of the central meridian (a forward/inverse round trip is tested to 1 mm).
The remaining distortion is the projection's scale factor ``k ≈ 1 + x²/(2R²)``: 5·10⁻⁶ at 20 km
from the origin, 1.2·10⁻⁴ at 100 km. So a distance measured in the plane of a site (posts within
a few tens of kilometres of one another) equals the geodesic distance to better than 0.01 %.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

__all__ = ["SiteProjection"]

_WGS84_A = 6378137.0
_WGS84_F = 1 / 298.257223563

_N = _WGS84_F / (2 - _WGS84_F)
_RECTIFYING_A = _WGS84_A / (1 + _N) * (1 + _N**2 / 4 + _N**4 / 64)
_E = 2 * math.sqrt(_N) / (1 + _N)  # first eccentricity
_ALPHA = (
    _N / 2 - 2 * _N**2 / 3 + 5 * _N**3 / 16,
    13 * _N**2 / 48 - 3 * _N**3 / 5,
    61 * _N**3 / 240,
)
_BETA = (
    _N / 2 - 2 * _N**2 / 3 + 37 * _N**3 / 96,
    _N**2 / 48 + _N**3 / 15,
    17 * _N**3 / 480,
)

_Array = NDArray[np.float64]


def _tm_forward(dlon_rad: _Array, lat_rad: _Array) -> tuple[_Array, _Array]:
    """Easting and northing (metres, from the equator) for longitudes relative to the meridian."""
    sin_lat = np.sin(lat_rad)
    t = np.sinh(np.arctanh(sin_lat) - _E * np.arctanh(_E * sin_lat))
    xi_p = np.arctan2(t, np.cos(dlon_rad))
    eta_p = np.arctanh(np.sin(dlon_rad) / np.sqrt(1 + t * t))
    xi = xi_p.copy()
    eta = eta_p.copy()
    for j, a in enumerate(_ALPHA, start=1):
        xi += a * np.sin(2 * j * xi_p) * np.cosh(2 * j * eta_p)
        eta += a * np.cos(2 * j * xi_p) * np.sinh(2 * j * eta_p)
    return _RECTIFYING_A * eta, _RECTIFYING_A * xi


def _tm_forward_scalar(dlon_rad: float, lat_rad: float) -> tuple[float, float]:
    """:func:`_tm_forward` for one point with ``math`` (numpy's per-call overhead dominates the
    arithmetic for a single fix, and fixes are classified one at a time)."""
    sin_lat = math.sin(lat_rad)
    t = math.sinh(math.atanh(sin_lat) - _E * math.atanh(_E * sin_lat))
    xi_p = math.atan2(t, math.cos(dlon_rad))
    eta_p = math.atanh(math.sin(dlon_rad) / math.sqrt(1 + t * t))
    xi = xi_p
    eta = eta_p
    for j, a in enumerate(_ALPHA, start=1):
        xi += a * math.sin(2 * j * xi_p) * math.cosh(2 * j * eta_p)
        eta += a * math.cos(2 * j * xi_p) * math.sinh(2 * j * eta_p)
    return _RECTIFYING_A * eta, _RECTIFYING_A * xi


def _tm_inverse(east: _Array, north: _Array) -> tuple[_Array, _Array]:
    """Longitude relative to the meridian and latitude, both in radians."""
    xi = north / _RECTIFYING_A
    eta = east / _RECTIFYING_A
    xi_p = xi.copy()
    eta_p = eta.copy()
    for j, b in enumerate(_BETA, start=1):
        xi_p -= b * np.sin(2 * j * xi) * np.cosh(2 * j * eta)
        eta_p -= b * np.cos(2 * j * xi) * np.sinh(2 * j * eta)
    chi = np.arcsin(np.sin(xi_p) / np.cosh(eta_p))
    # Conformal → geodetic latitude by fixed-point iteration of the exact relation (rather than
    # a truncated series); it gains about three digits per step.
    base = np.tan(np.pi / 4 + chi / 2)
    lat = chi.copy()
    for _ in range(8):
        e_sin = _E * np.sin(lat)
        lat = 2 * np.arctan(base * ((1 + e_sin) / (1 - e_sin)) ** (_E / 2)) - np.pi / 2
    dlon = np.arctan2(np.sinh(eta_p), np.cos(xi_p))
    return dlon, lat


class SiteProjection:
    """Transverse Mercator centred on ``(origin_lon, origin_lat)`` (WGS-84 degrees).

    ``forward`` maps WGS-84 degrees to metres east/north of the origin; ``inverse`` maps back.
    Both accept floats; the ``*_arrays`` variants accept numpy arrays of any shape.
    """

    __slots__ = ("_lat0", "_lon0", "_north0")

    def __init__(self, origin_lon: float, origin_lat: float) -> None:
        if not (math.isfinite(origin_lon) and math.isfinite(origin_lat)):
            raise ValueError("projection origin must be finite")
        if not (-180.0 <= origin_lon <= 180.0 and -85.0 <= origin_lat <= 85.0):
            raise ValueError(f"projection origin ({origin_lon}, {origin_lat}) is out of range")
        self._lon0 = float(origin_lon)
        self._lat0 = float(origin_lat)
        _, north0 = _tm_forward(np.zeros(1), np.radians(np.array([self._lat0])))
        self._north0 = float(north0[0])

    @property
    def origin(self) -> tuple[float, float]:
        """The origin as ``(lon, lat)`` in WGS-84 degrees."""
        return self._lon0, self._lat0

    def __repr__(self) -> str:
        return f"SiteProjection(origin_lon={self._lon0!r}, origin_lat={self._lat0!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SiteProjection):
            return NotImplemented
        return self.origin == other.origin

    def __hash__(self) -> int:
        return hash(self.origin)

    def forward_arrays(self, lon: Any, lat: Any) -> tuple[_Array, _Array]:
        """Vectorised :meth:`forward`."""
        dlon = np.asarray(lon, dtype=np.float64) - self._lon0
        # Wrap across the antimeridian so a site near ±180° stays continuous.
        dlon = (dlon + 180.0) % 360.0 - 180.0
        east, north = _tm_forward(np.radians(dlon), np.radians(np.asarray(lat, dtype=np.float64)))
        return east, north - self._north0

    def inverse_arrays(self, x: Any, y: Any) -> tuple[_Array, _Array]:
        """Vectorised :meth:`inverse`."""
        dlon, lat = _tm_inverse(
            np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64) + self._north0
        )
        lon = (np.degrees(dlon) + self._lon0 + 180.0) % 360.0 - 180.0
        return lon, np.degrees(lat)

    def forward(self, lon: float, lat: float) -> tuple[float, float]:
        """WGS-84 ``(lon, lat)`` in degrees → ``(x, y)`` metres east/north of the origin."""
        dlon = (float(lon) - self._lon0 + 180.0) % 360.0 - 180.0
        east, north = _tm_forward_scalar(math.radians(dlon), math.radians(float(lat)))
        return east, north - self._north0

    def inverse(self, x: float, y: float) -> tuple[float, float]:
        """``(x, y)`` metres in the site plane → WGS-84 ``(lon, lat)`` in degrees."""
        lon, lat = self.inverse_arrays(x, y)
        return float(lon), float(lat)

    def project_geometry(self, geom: Any) -> Any:
        """A shapely geometry in WGS-84 lon/lat → the same geometry in the site plane (metres)."""
        return shapely.transform(geom, self._forward_coords)

    def unproject_geometry(self, geom: Any) -> Any:
        """A shapely geometry in the site plane → the same geometry in WGS-84 lon/lat."""
        return shapely.transform(geom, self._inverse_coords)

    def _forward_coords(self, coords: _Array) -> _Array:
        x, y = self.forward_arrays(coords[:, 0], coords[:, 1])
        return np.column_stack((x, y))

    def _inverse_coords(self, coords: _Array) -> _Array:
        lon, lat = self.inverse_arrays(coords[:, 0], coords[:, 1])
        return np.column_stack((lon, lat))
