"""Accuracy-aware membership on a post drawn in GCJ-02 in Wuhan."""

from __future__ import annotations

import math

import pytest

from geofence import (
    DEFAULT_ACCURACY_M,
    Membership,
    PostFence,
    classify,
    classify_distance,
)

from .posts import HALF_SIDE_M, gate_post_gcj02

MARGIN_M = 15.0


@pytest.fixture(scope="module")
def gate() -> PostFence:
    return PostFence.from_geojson(gate_post_gcj02(), datum="gcj02")


def _east_of_edge(fence: PostFence, metres: float) -> tuple[float, float]:
    """A WGS-84 point ``metres`` east of the post's east edge (negative: inside)."""
    return fence.projection.inverse(HALF_SIDE_M + metres, 0.0)


def test_fix_30_m_outside_with_5_m_accuracy_is_outside(gate: PostFence) -> None:
    result = classify(gate, *_east_of_edge(gate, 30), accuracy_m=5, margin_m=MARGIN_M)
    assert result.membership is Membership.OUTSIDE
    assert result.distance_m == pytest.approx(30, abs=0.5)


def test_fix_30_m_outside_with_20_m_accuracy_is_uncertain(gate: PostFence) -> None:
    result = classify(gate, *_east_of_edge(gate, 30), accuracy_m=20, margin_m=MARGIN_M)
    assert result.membership is Membership.UNCERTAIN


def test_fix_8_m_outside_with_5_m_accuracy_is_inside_the_margin(gate: PostFence) -> None:
    result = classify(gate, *_east_of_edge(gate, 8), accuracy_m=5, margin_m=MARGIN_M)
    assert result.membership is Membership.INSIDE
    assert result.distance_m == pytest.approx(8, abs=0.5)


def test_fix_inside_is_inside_however_poor_its_accuracy(gate: PostFence) -> None:
    result = classify(gate, *_east_of_edge(gate, -10), accuracy_m=90, margin_m=MARGIN_M)
    assert result.membership is Membership.INSIDE
    assert result.distance_m == pytest.approx(-10, abs=0.5)


def test_fix_at_the_maps_gcj02_numbers_is_far_outside(gate: PostFence) -> None:
    # Reading the map's coordinates as GPS coordinates puts the guard ~590 m away.
    centre_drawn = gate_post_gcj02()["coordinates"][0]
    lon = sum(p[0] for p in centre_drawn[:4]) / 4
    lat = sum(p[1] for p in centre_drawn[:4]) / 4
    result = classify(gate, lon, lat, accuracy_m=5, margin_m=MARGIN_M)
    assert result.membership is Membership.OUTSIDE
    assert result.distance_m > 500


@pytest.mark.parametrize(
    ("distance_m", "accuracy_m", "expected"),
    [
        (0.0, 50.0, Membership.INSIDE),  # on the boundary
        (10.0, 5.0, Membership.INSIDE),  # 10 + 5 <= 15
        (10.0, 5.01, Membership.UNCERTAIN),  # 10 + 5.01 > 15
        (20.0, 5.0, Membership.UNCERTAIN),  # 20 is not > 15 + 5
        (20.01, 5.0, Membership.OUTSIDE),
        (35.0, 20.0, Membership.UNCERTAIN),
        (35.01, 20.0, Membership.OUTSIDE),
        (15.0, 0.0, Membership.INSIDE),  # a perfect fix on the margin's edge
        (15.01, 0.0, Membership.OUTSIDE),
    ],
)
def test_rule_at_its_limits(distance_m: float, accuracy_m: float, expected: Membership) -> None:
    assert classify_distance(distance_m, accuracy_m, MARGIN_M).membership is expected


def test_unknown_accuracy_counts_as_the_default() -> None:
    assert DEFAULT_ACCURACY_M == 10.0
    assert classify_distance(25.0, None, MARGIN_M).membership is Membership.UNCERTAIN
    assert classify_distance(25.01, None, MARGIN_M).membership is Membership.OUTSIDE
    assert classify_distance(5.0, None, MARGIN_M).membership is Membership.INSIDE
    assert classify_distance(5.01, None, MARGIN_M).membership is Membership.UNCERTAIN


@pytest.mark.parametrize(
    ("accuracy_m", "margin_m"), [(-1.0, 15.0), (math.nan, 15.0), (5.0, -1.0), (5.0, math.inf)]
)
def test_nonsense_accuracy_or_margin_is_refused(accuracy_m: float, margin_m: float) -> None:
    with pytest.raises(ValueError):
        classify_distance(10.0, accuracy_m, margin_m)
