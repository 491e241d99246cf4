"""Loading and validating a post's fence."""

from __future__ import annotations

import math
from typing import Any

import pytest
from shapely.geometry import Point

from geofence import (
    Datum,
    FenceError,
    PostFence,
    SiteProjection,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

from .geodesic import offset_m
from .posts import GATE_GCJ02, gate_centre_wgs84, gate_post_gcj02, square_around


def test_gcj02_post_is_converted_vertex_by_vertex_to_wgs84() -> None:
    shape = gate_post_gcj02()
    fence = PostFence.from_geojson(shape, datum=Datum.GCJ02)
    drawn = shape["coordinates"][0]
    converted = list(fence.wgs84.exterior.coords)
    assert len(converted) == len(drawn)
    for (lon, lat), (wlon, wlat) in zip(drawn, converted, strict=True):
        assert (wlon, wlat) == pytest.approx(gcj02_to_wgs84(lon, lat), abs=1e-12)
        assert offset_m(lon, lat, wlon, wlat) == pytest.approx(590, abs=40)


def test_gcj02_post_keeps_its_size_in_the_metric_plane() -> None:
    fence = PostFence.from_geojson(gate_post_gcj02(), datum="gcj02")
    assert fence.metric.area == pytest.approx(3600, rel=0.01)
    # The real (WGS-84) centre is inside; the map's GCJ-02 numbers read as WGS-84 are far away.
    assert fence.signed_distance_m(*gate_centre_wgs84()) == pytest.approx(-30, abs=0.5)
    assert fence.signed_distance_m(*GATE_GCJ02) > 500


def test_bd09_post_lands_on_the_same_ground_as_its_gcj02_drawing() -> None:
    centre = gate_centre_wgs84()
    ring = square_around(*centre, 30)
    gcj = PostFence.from_geojson(
        {"type": "Polygon", "coordinates": [[list(wgs84_to_gcj02(*p)) for p in ring]]},
        datum="gcj02",
    )
    bd = PostFence.from_geojson(
        {"type": "Polygon", "coordinates": [[list(wgs84_to_bd09(*p)) for p in ring]]},
        datum="bd09",
        projection=gcj.projection,
    )
    assert bd.metric.symmetric_difference(gcj.metric).area < 1.0


def test_unclosed_ring_is_closed_automatically() -> None:
    closed = gate_post_gcj02()
    unclosed = {"type": "Polygon", "coordinates": [closed["coordinates"][0][:-1]]}
    a = PostFence.from_geojson(closed, datum="gcj02")
    b = PostFence.from_geojson(unclosed, datum="gcj02", projection=a.projection)
    assert b.metric.equals(a.metric)


def test_polygon_with_a_hole_puts_the_hole_outside() -> None:
    lon, lat = 114.30, 30.59
    fence = PostFence.from_geojson(
        {
            "type": "Polygon",
            "coordinates": [square_around(lon, lat, 100), square_around(lon, lat, 20)],
        }
    )
    assert fence.signed_distance_m(lon, lat) == pytest.approx(20, abs=0.01)
    x, y = 60.0, 0.0
    assert fence.signed_distance_xy(x, y) == pytest.approx(-40, abs=0.01)


def test_multipolygon_distance_is_to_the_nearest_part() -> None:
    fence = PostFence.from_geojson(
        {
            "type": "MultiPolygon",
            "coordinates": [
                [square_around(114.300, 30.59, 10)],
                [square_around(114.302, 30.59, 10)],
            ],
        }
    )
    assert fence.metric.geom_type == "MultiPolygon"
    assert fence.signed_distance_m(114.300, 30.59) == pytest.approx(-10, abs=0.01)
    assert fence.signed_distance_m(114.302, 30.59) == pytest.approx(-10, abs=0.01)


def test_circle_distance_is_exact_centre_distance_minus_radius() -> None:
    fence = PostFence.from_geojson(
        {"type": "Circle", "center": [114.3, 30.59], "radius_m": 50}, datum="wgs84"
    )
    lon, lat = fence.projection.inverse(0.0, 120.0)
    assert fence.signed_distance_m(lon, lat) == pytest.approx(70, abs=1e-3)
    assert fence.signed_distance_m(114.3, 30.59) == pytest.approx(-50, abs=1e-6)
    assert fence.metric.area == pytest.approx(math.pi * 50**2, rel=0.002)
    assert fence.circle == (114.3, 30.59, 50.0)


def test_circle_drawn_in_gcj02_moves_only_its_centre() -> None:
    fence = PostFence.from_geojson(
        {"type": "Circle", "center": list(GATE_GCJ02), "radius_m": 40}, datum="gcj02"
    )
    assert fence.signed_distance_m(*gate_centre_wgs84()) == pytest.approx(-40, abs=0.01)


@pytest.mark.parametrize(
    "shape",
    [
        {"type": "Point", "coordinates": [114.3, 30.59], "radius_m": 25},
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [114.3, 30.59]},
            "properties": {"radius_m": 25},
        },
    ],
    ids=["point-with-radius", "feature-with-radius-property"],
)
def test_point_with_radius_is_a_circle(shape: dict[str, Any]) -> None:
    fence = PostFence.from_geojson(shape)
    assert fence.is_circle
    assert fence.signed_distance_m(114.3, 30.59) == pytest.approx(-25, abs=1e-6)


def test_fence_defaults_to_a_projection_centred_on_itself() -> None:
    fence = PostFence.from_geojson(gate_post_gcj02(), datum="gcj02")
    centre = fence.projection.forward(*gate_centre_wgs84())
    assert Point(centre).distance(Point(0, 0)) < 0.5


def test_reproject_keeps_distances() -> None:
    fence = PostFence.from_geojson(gate_post_gcj02(), datum="gcj02")
    moved = fence.reproject(SiteProjection(114.25, 30.55))
    probe = (114.3045, 30.5925)
    assert moved.signed_distance_m(*probe) == pytest.approx(
        fence.signed_distance_m(*probe), abs=0.01
    )


@pytest.mark.parametrize(
    ("shape", "datum", "message"),
    [
        ({"type": "Polygon", "coordinates": []}, "wgs84", "is empty"),
        ({"type": "Polygon", "coordinates": [[]]}, "wgs84", "has 0 distinct point"),
        (
            {"type": "Polygon", "coordinates": [[[114.3, 30.5], [114.31, 30.5], [114.3, 30.5]]]},
            "wgs84",
            "outline: has 2 distinct point",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [
                    [[114.30, 30.50], [114.31, 30.51], [114.31, 30.50], [114.30, 30.51]]
                ],
            },
            "wgs84",
            "self-intersection at [114.305, 30.505]",
        ),
        (
            {"type": "Polygon", "coordinates": [[[114.3, 30.5], [114.31, 30.5], [114.32, 30.5]]]},
            "wgs84",
            "has no area",
        ),
        (
            {"type": "Polygon", "coordinates": [[[30.5, 114.3], [30.51, 114.3], [30.5, 114.31]]]},
            "wgs84",
            "point 0: latitude 114.3 is out of range [-90, 90] (are longitude and latitude swapped",
        ),
        (
            {"type": "Polygon", "coordinates": [[[30.5, 14.3], [30.51, 14.3], [30.5, 14.31]]]},
            "gcj02",
            "is outside China, where gcj02 is not used",
        ),
        (
            {"type": "Polygon", "coordinates": [[[181, 30.5], [181.1, 30.5], [181, 30.6]]]},
            "wgs84",
            "longitude 181.0 is out of range",
        ),
        (
            {"type": "Polygon", "coordinates": [[[114.3, 30.5], ["x", 30.5], [114.3, 30.6]]]},
            "wgs84",
            "point 1: expected a position [longitude, latitude]",
        ),
        (
            {"type": "Polygon", "coordinates": [[[114.3, 30.5], [math.nan, 30.5], [114, 30.6]]]},
            "wgs84",
            "point 1: coordinates must be finite",
        ),
        ({"type": "Circle", "center": [114.3, 30.5], "radius_m": 0}, "wgs84", "greater than 0"),
        ({"type": "Circle", "center": [114.3, 30.5], "radius_m": -5}, "wgs84", "greater than 0"),
        ({"type": "Circle", "center": [114.3, 30.5]}, "wgs84", "needs 'radius_m'"),
        ({"type": "Circle", "radius_m": 30}, "wgs84", "has no center"),
        ({"type": "LineString", "coordinates": [[114.3, 30.5]]}, "wgs84", "'LineString'"),
        ({"type": "Polygon", "coordinates": [[[114.3, 30.5]]]}, "mars", "unknown datum 'mars'"),
        ([114.3, 30.5], "wgs84", "must be a GeoJSON object"),
    ],
)
def test_bad_fence_is_refused_with_a_precise_message(shape: Any, datum: str, message: str) -> None:
    with pytest.raises(FenceError) as caught:
        PostFence.from_geojson(shape, datum=datum)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_multipolygon_error_names_the_polygon_and_hole() -> None:
    bad_hole = [[114.3, 30.5], [114.3, 30.5]]
    shape = {
        "type": "MultiPolygon",
        "coordinates": [
            [square_around(114.3, 30.5, 10)],
            [square_around(114.4, 30.5, 10), bad_hole],
        ],
    }
    with pytest.raises(FenceError, match=r"^polygon 1, hole 1: has 1 distinct point"):
        PostFence.from_geojson(shape)
