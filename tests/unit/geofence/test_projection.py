"""The per-site transverse Mercator plane: metres that agree with the ellipsoid."""

from __future__ import annotations

import itertools
import math

import pytest
from shapely.geometry import Polygon

from geofence import SiteProjection

from .geodesic import vincenty_m

SITES = {
    "wuhan": (114.3055, 30.5928),
    "harbin": (126.6425, 45.7567),
    "sanya": (109.5120, 18.2528),
}


def _points_around(lon0: float, lat0: float, reach_m: float) -> list[tuple[float, float]]:
    """The origin and 8 points about ``reach_m`` away in every compass direction."""
    dlat = reach_m / 111_000
    dlon = reach_m / (111_000 * math.cos(math.radians(lat0)))
    points = [(lon0, lat0)]
    for k in range(8):
        a = k * math.pi / 4
        points.append((lon0 + dlon * math.sin(a), lat0 + dlat * math.cos(a)))
    return points


@pytest.mark.parametrize("site", SITES)
def test_plane_distances_agree_with_geodesic_within_0_01_percent_over_20_km(site: str) -> None:
    lon0, lat0 = SITES[site]
    projection = SiteProjection(lon0, lat0)
    points = _points_around(lon0, lat0, 20_000)
    worst = 0.0
    for (lon1, lat1), (lon2, lat2) in itertools.combinations(points, 2):
        x1, y1 = projection.forward(lon1, lat1)
        x2, y2 = projection.forward(lon2, lat2)
        geodesic = vincenty_m(lat1, lon1, lat2, lon2)
        worst = max(worst, abs(math.hypot(x2 - x1, y2 - y1) - geodesic) / geodesic)
    assert worst < 1e-4  # the brief's bar is 0.1 %; the projection does ten times better


def test_short_distances_on_a_post_agree_with_geodesic_to_a_centimetre() -> None:
    projection = SiteProjection(*SITES["wuhan"])
    a, b = (114.3061, 30.5931), (114.3067, 30.5925)
    x1, y1 = projection.forward(*a)
    x2, y2 = projection.forward(*b)
    assert math.hypot(x2 - x1, y2 - y1) == pytest.approx(
        vincenty_m(a[1], a[0], b[1], b[0]), abs=0.01
    )


def test_origin_maps_to_zero_and_axes_point_east_and_north() -> None:
    lon0, lat0 = SITES["wuhan"]
    projection = SiteProjection(lon0, lat0)
    assert projection.forward(lon0, lat0) == pytest.approx((0.0, 0.0), abs=1e-9)
    east = projection.forward(lon0 + 0.001, lat0)
    north = projection.forward(lon0, lat0 + 0.001)
    assert east[0] == pytest.approx(vincenty_m(lat0, lon0, lat0, lon0 + 0.001), rel=1e-6)
    assert abs(east[1]) < 0.01
    assert north[1] == pytest.approx(vincenty_m(lat0, lon0, lat0 + 0.001, lon0), rel=1e-6)
    assert north[0] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("site", SITES)
def test_inverse_undoes_forward_to_a_millimetre(site: str) -> None:
    lon0, lat0 = SITES[site]
    projection = SiteProjection(lon0, lat0)
    for lon, lat in _points_around(lon0, lat0, 50_000):
        back = projection.inverse(*projection.forward(lon, lat))
        assert vincenty_m(lat, lon, back[1], back[0]) < 0.001


def test_project_geometry_gives_a_square_its_area_in_square_metres() -> None:
    lon0, lat0 = SITES["wuhan"]
    projection = SiteProjection(lon0, lat0)
    corners_m = [(0, 0), (60, 0), (60, 60), (0, 60)]
    square = Polygon([projection.inverse(x, y) for x, y in corners_m])
    metric = projection.project_geometry(square)
    assert metric.area == pytest.approx(3600.0, abs=0.01)
    assert projection.unproject_geometry(metric).equals_exact(square, tolerance=1e-9)


def test_origin_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        SiteProjection(30.5928, 114.3055)
    with pytest.raises(ValueError, match="finite"):
        SiteProjection(math.nan, 30.0)
