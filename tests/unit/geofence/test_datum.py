"""WGS-84 ⇄ GCJ-02 ⇄ BD-09 conversions."""

from __future__ import annotations

import pytest

from geofence import (
    Datum,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

from .geodesic import offset_m

WUHAN = (114.3055, 30.5928)

# Published outputs of wandergis/coordtransform (README @ 5087468c) for the input (116.404, 39.915).
PUBLISHED_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
PUBLISHED_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
# Their gcj02towgs84 is a single non-iterated step: within a few centimetres of the true inverse.
PUBLISHED_GCJ02_TO_WGS84_ONE_STEP = (116.39775550083061, 39.91359571849836)

CHINA_GRID = [
    (lon, lat)
    for lon in (73.5, 80.0, 87.6, 95.0, 103.8, 108.9, 114.3055, 116.4, 121.5, 126.6, 134.5)
    for lat in (18.3, 22.5, 25.0, 30.5928, 34.3, 39.9, 43.8, 47.0, 53.0)
]


def test_wgs84_to_gcj02_matches_the_published_vector() -> None:
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(PUBLISHED_WGS84_TO_GCJ02[0], abs=1e-12)
    assert lat == pytest.approx(PUBLISHED_WGS84_TO_GCJ02[1], abs=1e-12)


def test_gcj02_to_bd09_matches_the_published_vector() -> None:
    lon, lat = gcj02_to_bd09(116.404, 39.915)
    assert lon == pytest.approx(PUBLISHED_GCJ02_TO_BD09[0], abs=1e-12)
    assert lat == pytest.approx(PUBLISHED_GCJ02_TO_BD09[1], abs=1e-12)


def test_iterated_gcj02_inverse_is_within_centimetres_of_the_published_one_step_inverse() -> None:
    ours = gcj02_to_wgs84(116.404, 39.915)
    assert offset_m(*ours, *PUBLISHED_GCJ02_TO_WGS84_ONE_STEP) < 0.1
    # ...and ours is the better inverse: it maps back onto the input.
    assert offset_m(*wgs84_to_gcj02(*ours), 116.404, 39.915) < 0.001
    assert offset_m(*wgs84_to_gcj02(*PUBLISHED_GCJ02_TO_WGS84_ONE_STEP), 116.404, 39.915) > 0.01


@pytest.mark.parametrize(("lon", "lat"), CHINA_GRID)
def test_gcj02_round_trip_error_is_below_half_a_metre_across_china(lon: float, lat: float) -> None:
    assert not out_of_china(lon, lat)
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert offset_m(lon, lat, *back) < 0.5
    forward_again = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert offset_m(lon, lat, *forward_again) < 0.5


@pytest.mark.parametrize(("lon", "lat"), CHINA_GRID)
def test_bd09_round_trip_error_is_below_half_a_metre_across_china(lon: float, lat: float) -> None:
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert offset_m(lon, lat, *back) < 0.5
    gcj = wgs84_to_gcj02(lon, lat)
    assert offset_m(*gcj, *bd09_to_gcj02(*gcj02_to_bd09(*gcj))) < 0.5


def test_gcj02_is_about_590_m_off_wgs84_in_wuhan() -> None:
    assert offset_m(*WUHAN, *wgs84_to_gcj02(*WUHAN)) == pytest.approx(590, abs=40)


def test_bd09_is_about_1_2_km_off_wgs84_in_wuhan() -> None:
    assert offset_m(*WUHAN, *wgs84_to_bd09(*WUHAN)) == pytest.approx(1200, abs=80)


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(-0.1246, 51.5007), (151.2093, -33.8688), (139.7, 55.9), (71.9, 40.0), (100.0, 0.5)],
    ids=["london", "sydney", "north-east-of-box", "west-of-box", "south-of-box"],
)
def test_gcj02_leaves_points_outside_the_china_box_unchanged(lon: float, lat: float) -> None:
    assert out_of_china(lon, lat)
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


@pytest.mark.parametrize("datum", [Datum.WGS84, Datum.GCJ02, Datum.BD09, "gcj02", "BD09"])
def test_to_wgs84_inverts_from_wgs84_for_every_datum(datum: Datum | str) -> None:
    assert offset_m(*WUHAN, *to_wgs84(*from_wgs84(*WUHAN, datum), datum)) < 0.5


def test_to_wgs84_of_wgs84_is_the_identity() -> None:
    assert to_wgs84(*WUHAN, Datum.WGS84) == WUHAN


def test_unknown_datum_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="'cgcs2000'"):
        to_wgs84(*WUHAN, "cgcs2000")
