"""Motion and error model: a standing guard scatters around his post as a real receiver does,
a walking guard moves at his pace with consistent speed and course, all reproducible by seed."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from fwsim.gps.fix import SimFix
from fwsim.gps.motion import (
    FixSampler,
    Leg,
    NoiseModel,
    Track,
    latlon_to_offset,
    offset_to_latlon,
)

ANCHOR = (30.5928, 114.3055)
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def _standing(noise: NoiseModel, seed: int, n: int, interval_s: float = 30.0) -> list[SimFix]:
    track = Track([Leg(0.0, n * interval_s, (0.0, 0.0), (0.0, 0.0))])
    sampler = FixSampler("g1", ANCHOR, track, noise, random.Random(seed))
    return [
        sampler.sample(k * interval_s, T0 + timedelta(seconds=k * interval_s)) for k in range(n)
    ]


def _offsets(fixes: list[SimFix]) -> list[tuple[float, float]]:
    return [latlon_to_offset(*ANCHOR, f.lat, f.lon) for f in fixes]


def test_offsets_convert_to_wgs84_and_back_within_a_millimetre() -> None:
    lat, lon = offset_to_latlon(*ANCHOR, 250.0, -120.0)
    north, east = latlon_to_offset(*ANCHOR, lat, lon)
    assert north == pytest.approx(250.0, abs=1e-3) and east == pytest.approx(-120.0, abs=1e-3)
    # One degree of latitude is about 110.6-111.7 km on the ellipsoid.
    assert offset_to_latlon(0.0, 0.0, 111_319.5, 0.0)[0] == pytest.approx(1.0, abs=1e-3)


def test_standing_guard_has_68_percent_of_fixes_within_the_reported_accuracy() -> None:
    fixes = _standing(NoiseModel(accuracy_m=8.0, correlation_s=0.0), seed=7, n=4000)
    distances = [math.hypot(n, e) for n, e in _offsets(fixes)]
    within = sum(d <= 8.0 for d in distances) / len(distances)
    assert 0.65 <= within <= 0.71
    assert max(distances) < 8.0 * 3.0  # no wild fix without multipath
    north, east = zip(*_offsets(fixes), strict=True)
    assert abs(statistics.fmean(north)) < 0.5 and abs(statistics.fmean(east)) < 0.5


def test_standing_guard_reports_near_zero_speed_and_accuracy_around_nominal() -> None:
    fixes = _standing(NoiseModel(accuracy_m=10.0), seed=3, n=500)
    assert all(f.speed_mps <= 0.3 for f in fixes)
    assert all(8.0 <= f.accuracy_m <= 12.0 for f in fixes)
    assert len({f.course_deg for f in fixes}) == 1  # heading frozen at rest


def test_correlated_error_drifts_slowly_between_consecutive_fixes() -> None:
    def mean_step(correlation_s: float) -> float:
        offs = _offsets(_standing(NoiseModel(8.0, correlation_s), seed=5, n=1000, interval_s=5))
        return statistics.fmean(math.dist(a, b) for a, b in itertools.pairwise(offs))

    assert mean_step(120.0) < 0.5 * mean_step(0.0)


def test_multipath_throws_about_the_configured_share_of_fixes_50_to_200_m() -> None:
    noise = NoiseModel(8.0, 0.0, multipath_probability=0.05)
    distances = [math.hypot(n, e) for n, e in _offsets(_standing(noise, seed=9, n=4000))]
    far = [d for d in distances if d > 40.0]
    assert 0.035 <= len(far) / len(distances) <= 0.065
    assert max(distances) < 200.0 + 30.0


def test_multipath_is_off_by_default() -> None:
    distances = [math.hypot(n, e) for n, e in _offsets(_standing(NoiseModel(8.0), 9, 4000))]
    assert max(distances) < 40.0


def test_same_seed_gives_identical_fixes_and_another_seed_does_not() -> None:
    noise = NoiseModel(8.0, multipath_probability=0.02)
    assert _standing(noise, 42, 50) == _standing(noise, 42, 50)
    assert _standing(noise, 42, 50) != _standing(noise, 43, 50)


def test_walking_guard_moves_north_at_his_pace_with_matching_speed_and_course() -> None:
    walk_s = 250.0 / 1.4
    track = Track(
        [
            Leg(0.0, 60.0, (0.0, 0.0), (0.0, 0.0)),
            Leg(60.0, 60.0 + walk_s, (0.0, 0.0), (250.0, 0.0)),
            Leg(60.0 + walk_s, 400.0, (250.0, 0.0), (250.0, 0.0)),
        ]
    )
    sampler = FixSampler("g1", ANCHOR, track, NoiseModel(5.0, 0.0), random.Random(1))
    during = [sampler.sample(t, T0 + timedelta(seconds=t)) for t in range(60, 230, 10)]
    for fix in during:
        assert fix.speed_mps == pytest.approx(1.4, abs=0.4)
        assert min(fix.course_deg, 360.0 - fix.course_deg) < 20.0
    norths = [n for n, _ in _offsets(during)]
    assert norths[-1] - norths[0] == pytest.approx(1.4 * 160, abs=25.0)
    after = sampler.sample(400.0, T0 + timedelta(seconds=400))
    assert math.dist(latlon_to_offset(*ANCHOR, after.lat, after.lon), (250.0, 0.0)) < 25.0
    assert after.odometer_m == pytest.approx(250.0)
    assert track.at(60.0 + walk_s / 2).north_m == pytest.approx(125.0)


def test_battery_drains_linearly_and_times_must_not_go_backwards() -> None:
    track = Track([Leg(0.0, 7200.0, (0.0, 0.0), (0.0, 0.0))])
    sampler = FixSampler(
        "g1", ANCHOR, track, NoiseModel(), random.Random(0), battery_pct=90.0,
        battery_drain_pct_per_h=5.0,
    )  # fmt: skip
    assert sampler.sample(0.0, T0).battery_pct == 90.0
    assert sampler.sample(7200.0, T0 + timedelta(hours=2)).battery_pct == 80.0
    with pytest.raises(ValueError, match="backwards"):
        sampler.sample(10.0, T0)


def test_track_legs_must_be_contiguous() -> None:
    with pytest.raises(ValueError, match="contiguous"):
        Track([Leg(0, 10, (0, 0), (0, 0)), Leg(11, 20, (0, 0), (0, 0))])
