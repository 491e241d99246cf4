"""The fix filter: what never reaches the rules, and why."""

from __future__ import annotations

import math
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from gateway.filters import DEFAULT_WINDOW, DropReason, FixFilter, haversine_m
from gateway.policy import SitePolicy
from gateway.records import PositionFix

NOW = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)
GATE = (30.5928, 114.3055)  # lat, lon in Wuhan
POLICY = SitePolicy()  # max_accuracy_m 100, max_speed_mps 50, max_fix_age_s 1 day, future 120 s
METRES_PER_DEG_LAT = 2 * math.pi * 6_371_008.8 / 360


def fix(
    seconds: float = 0.0,
    *,
    north_m: float = 0.0,
    accuracy_m: float | None = 5.0,
    lat: float | None = None,
    lon: float | None = None,
    device: str = "T-1",
) -> PositionFix:
    """A fix ``seconds`` after NOW (device time), ``north_m`` metres north of the gate."""
    when = NOW + timedelta(seconds=seconds)
    return PositionFix(
        device_id=device,
        fix_time=when,
        received_at=when,
        lat=GATE[0] + north_m / METRES_PER_DEG_LAT if lat is None else lat,
        lon=GATE[1] if lon is None else lon,
        accuracy_m=accuracy_m,
    )


@pytest.fixture
def filt() -> FixFilter:
    return FixFilter(lambda device_id: POLICY)


def test_a_plain_fix_is_accepted(filt: FixFilter) -> None:
    assert filt.check(fix(), NOW) is None


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (math.nan, 114.3),
        (30.5, math.inf),
        (90.0001, 114.3),
        (-90.5, 114.3),
        (30.5, 180.01),
        (30.5, -180.5),
    ],
)
def test_nan_infinite_or_out_of_range_coordinates_are_invalid(
    filt: FixFilter, lat: float, lon: float
) -> None:
    assert filt.check(fix(lat=lat, lon=lon), NOW) is DropReason.INVALID_COORDINATES


@pytest.mark.parametrize(
    ("lat", "lon"), [(90.0, 114.3), (-90.0, 114.3), (30.5, 180.0), (30.5, -180.0)]
)
def test_coordinates_at_the_range_limits_are_valid(filt: FixFilter, lat: float, lon: float) -> None:
    assert filt.check(fix(lat=lat, lon=lon), NOW) is None


@pytest.mark.parametrize("accuracy", [-1.0, math.nan])
def test_negative_or_nan_accuracy_is_invalid(filt: FixFilter, accuracy: float) -> None:
    assert filt.check(fix(accuracy_m=accuracy), NOW) is DropReason.INVALID_COORDINATES


@pytest.mark.parametrize(("lat", "lon"), [(0.0, 0.0), (0.0, 114.3), (30.5, 0.0)])
def test_zero_latitude_or_longitude_is_a_no_fix_placeholder(
    filt: FixFilter, lat: float, lon: float
) -> None:
    assert filt.check(fix(lat=lat, lon=lon), NOW) is DropReason.ZERO_COORDINATES


def test_nearly_zero_coordinates_are_not_zero(filt: FixFilter) -> None:
    assert filt.check(fix(lat=0.000001, lon=0.000001), NOW) is None


def test_fix_more_than_the_tolerance_in_the_future_is_dropped(filt: FixFilter) -> None:
    assert filt.check(fix(120.001), NOW) is DropReason.FUTURE_FIX
    assert filt.check(fix(120.0), NOW) is None


def test_fix_older_than_the_maximum_age_is_stale(filt: FixFilter) -> None:
    assert filt.check(fix(-86_400.001), NOW) is DropReason.STALE_FIX
    assert filt.check(fix(-86_400.0), NOW) is None


def test_fix_with_worse_accuracy_than_the_limit_is_dropped(filt: FixFilter) -> None:
    assert filt.check(fix(0, accuracy_m=100.01), NOW) is DropReason.POOR_ACCURACY
    assert filt.check(fix(1, accuracy_m=100.0), NOW) is None
    assert filt.check(fix(2, accuracy_m=None), NOW) is None


def test_same_fix_time_again_is_a_duplicate_whatever_its_coordinates(filt: FixFilter) -> None:
    assert filt.check(fix(0), NOW) is None
    assert filt.check(fix(0), NOW) is DropReason.DUPLICATE
    assert filt.check(fix(0, north_m=3), NOW) is DropReason.DUPLICATE
    assert filt.check(fix(0.001), NOW) is None


def test_a_resent_batch_counts_once(filt: FixFilter) -> None:
    batch = [fix(-600 + 10 * i, north_m=i) for i in range(30)]
    assert [filt.check(f, NOW) for f in batch] == [None] * 30
    assert [filt.check(f, NOW) for f in batch] == [DropReason.DUPLICATE] * 30


def test_duplicate_is_per_device(filt: FixFilter) -> None:
    assert filt.check(fix(0, device="T-1"), NOW) is None
    assert filt.check(fix(0, device="T-2"), NOW) is None


def test_a_rejected_fix_is_not_remembered_as_a_duplicate(filt: FixFilter) -> None:
    assert filt.check(fix(0, accuracy_m=500), NOW) is DropReason.POOR_ACCURACY
    assert filt.check(fix(0, accuracy_m=5), NOW) is None


def test_duplicate_memory_is_bounded_by_the_window() -> None:
    filt = FixFilter(lambda device_id: POLICY, window=3)
    for i in range(5):
        assert filt.check(fix(i), NOW) is None
    assert filt.check(fix(4), NOW) is DropReason.DUPLICATE
    assert filt.check(fix(2), NOW) is DropReason.DUPLICATE
    # Older than everything a full window remembers: cannot be checked, let through.
    assert filt.check(fix(0), NOW) is None


def test_a_devices_memory_with_a_full_window_stays_small() -> None:
    """A city's terminals each fill their window within minutes of a shift: 100,000 of them
    must fit in memory many times over. Measured with the default window filled three times
    over on 200 devices (it took 52 kB a device when each fix was an object, 1.45 kB when the
    places were doubles, 1.01 kB as whole units)."""
    filt = FixFilter(lambda device_id: POLICY)
    devices = 200
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for k in range(3 * DEFAULT_WINDOW):
            for d in range(devices):
                arrived = NOW + timedelta(seconds=20 * k)
                assert filt.check(fix(20 * k, north_m=k, device=f"T-{d}"), arrived) is None
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert DEFAULT_WINDOW >= 32  # ten minutes of fixes every 20 s
    assert used / devices < 1_100
    # Still remembered: the newest window, not more.
    newest = 20 * (3 * DEFAULT_WINDOW - 1)
    later = NOW + timedelta(seconds=newest)
    assert filt.check(fix(newest, device="T-7"), later) is DropReason.DUPLICATE
    oldest_kept = newest - 20 * (DEFAULT_WINDOW - 1)
    assert filt.check(fix(oldest_kept, device="T-7"), later) is DropReason.DUPLICATE


def test_places_are_remembered_to_the_centimetre_wherever_they_are() -> None:
    # At the range's corners, and with an accuracy wider than the Earth (a site whose
    # policy lets any accuracy through): remembered without overflow, and checked after.
    filt = FixFilter(lambda device_id: SitePolicy(max_accuracy_m=1e12))
    assert filt.check(fix(0, lat=-90.0, lon=180.0, accuracy_m=1e11), NOW) is None
    assert filt.check(fix(1, lat=90.0, lon=-180.0, accuracy_m=1e11), NOW) is None
    # 20,000 km in a second, excused by accuracies wider than any distance on Earth.
    assert filt.check(fix(2, lat=-90.0, lon=180.0, accuracy_m=5.0), NOW) is None
    plain = FixFilter(lambda device_id: POLICY)
    assert plain.check(fix(0), NOW) is None
    # 10 s and 5 + 5 m: 510 m is the limit; a centimetre either side decides.
    assert plain.check(fix(10, north_m=510.02), NOW) is DropReason.IMPOSSIBLE_JUMP
    assert plain.check(fix(10, north_m=509.98), NOW) is None


def test_jump_faster_than_the_speed_limit_after_subtracting_accuracies_is_impossible(
    filt: FixFilter,
) -> None:
    # 10 s apart, accuracies 5 + 5: the limit (50 m/s) is reached at 500 + 10 = 510 m.
    assert filt.check(fix(0), NOW) is None
    assert filt.check(fix(10, north_m=511), NOW) is DropReason.IMPOSSIBLE_JUMP
    assert filt.check(fix(10, north_m=509), NOW) is None


def test_poor_accuracy_excuses_an_apparent_jump(filt: FixFilter) -> None:
    # 160 m in 2 s is 80 m/s, but the accuracy circles (5 and 80 m) leave 75 m: 37.5 m/s.
    assert filt.check(fix(0), NOW) is None
    assert filt.check(fix(2, north_m=160, accuracy_m=80), NOW) is None


def test_unknown_accuracy_counts_as_10_m_in_the_jump_check(filt: FixFilter) -> None:
    assert filt.check(fix(0, accuracy_m=None), NOW) is None
    # 10 + 10 m subtracted: 119 m in 2 s → 49.5 m/s passes, 121 m → 50.5 m/s does not.
    assert filt.check(fix(2, north_m=121, accuracy_m=None), NOW) is DropReason.IMPOSSIBLE_JUMP
    assert filt.check(fix(2.0, north_m=119, accuracy_m=None), NOW) is None


def test_late_fix_is_checked_against_both_neighbours_in_time(filt: FixFilter) -> None:
    assert filt.check(fix(0), NOW) is None
    assert filt.check(fix(100, north_m=1000), NOW) is None  # 9.9 m/s
    # At t=50 the guard must be somewhere between: 600 m north fits both neighbours...
    assert filt.check(fix(50, north_m=600), NOW) is None
    # ...but 3000 m north at t=25 is 120 m/s from the fix before it.
    assert filt.check(fix(25, north_m=3000), NOW) is DropReason.IMPOSSIBLE_JUMP
    # And at t=75, the gate itself is 1000 m from the t=100 fix: 39.6 m/s from it, fine; from
    # t=50 (600 m away in 25 s) 23.6 m/s, fine.
    assert filt.check(fix(75, north_m=0), NOW) is None
    # At t=99 the gate is 1000 m from the t=100 fix in 1 s: impossible.
    assert filt.check(fix(99, north_m=0), NOW) is DropReason.IMPOSSIBLE_JUMP


def test_two_agreeing_fixes_outvote_an_outlying_anchor(filt: FixFilter) -> None:
    assert filt.check(fix(0, north_m=5000), NOW) is None  # a wild first fix
    assert filt.check(fix(10), NOW) is DropReason.IMPOSSIBLE_JUMP
    assert filt.check(fix(20, north_m=20), NOW) is None  # agrees with t=10: re-anchored
    assert filt.check(fix(30, north_m=30), NOW) is None


def test_an_isolated_outlier_does_not_move_the_anchor(filt: FixFilter) -> None:
    assert filt.check(fix(0), NOW) is None
    assert filt.check(fix(10, north_m=5000), NOW) is DropReason.IMPOSSIBLE_JUMP
    assert filt.check(fix(20, north_m=10), NOW) is None
    assert filt.check(fix(30, north_m=5000), NOW) is DropReason.IMPOSSIBLE_JUMP


def test_limits_come_from_the_devices_site_policy() -> None:
    strict = SitePolicy(max_accuracy_m=20, max_speed_mps=5, max_fix_age_s=60)
    filt = FixFilter(lambda device_id: strict if device_id == "T-strict" else POLICY)
    assert filt.check(fix(0, accuracy_m=30, device="T-strict"), NOW) is DropReason.POOR_ACCURACY
    assert filt.check(fix(0, accuracy_m=30, device="T-1"), NOW) is None
    assert filt.check(fix(-61, device="T-strict"), NOW) is DropReason.STALE_FIX
    assert filt.check(fix(-60, device="T-strict"), NOW) is None
    assert filt.check(fix(-50, north_m=200, device="T-strict"), NOW) is DropReason.IMPOSSIBLE_JUMP


def test_naive_times_are_taken_as_utc(filt: FixFilter) -> None:
    assert filt.check(fix(0), NOW.replace(tzinfo=None)) is None


def test_haversine_of_one_degree_of_latitude() -> None:
    assert haversine_m(30.0, 114.0, 31.0, 114.0) == pytest.approx(METRES_PER_DEG_LAT, rel=1e-12)
