"""A checkpoint scan is evidence that the guard is at the checkpoint's post (presence rules).

An indoor post: the guard's GPS drifts outside or reads uncertain while he keeps scanning the
checkpoints of his post; the presence rules must not see a departure. When the scans stop and
the GPS stays outside, the departure is real and confirmed as usual.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.rules import FixObserved, ScanObserved, scan_as_fix
from geofence.membership import Membership

from .scenario import DEVICE, Build, Scenario, at, inside, outside, tick, track, uncertain

ON_POST = track(-300, -30, inside)


def scan_every(start_s: float, end_s: float, every_s: float) -> list[tuple[float, Build]]:
    def build(now: datetime) -> FixObserved:
        scan = ScanObserved(
            checkpoint_id="cp-lobby",
            reader_id="nfc-lobby",
            tag_id="04A2241A6B1C80",
            scanned_at=now,
            received_at=now + timedelta(seconds=1),
            raw="d54b0101004400070404a2241a6b1c80",
        )
        return scan_as_fix(scan, lat=30.6049, lon=114.3010, device_id=DEVICE)

    count = int((end_s - start_s) // every_s)
    return [(start_s + i * every_s, build) for i in range(count + 1)]


def departures(scenario: Scenario) -> list[float]:
    return [(e.time - at(0)).total_seconds() for e in scenario.only("presence.departed")]


def test_scan_becomes_an_inside_fix_with_zero_distance_and_the_scan_as_evidence() -> None:
    [(_, build)] = scan_every(0, 0, 45)
    fix = build(at(0))
    assert isinstance(fix, FixObserved)
    assert fix.membership is Membership.INSIDE
    assert (fix.distance_m, fix.accuracy_m) == (0.0, 0.0)
    assert fix.fix_time == at(0)
    assert "checkpoint=cp-lobby" in fix.raw
    assert "tag=04A2241A6B1C80" in fix.raw
    assert "raw=d54b0101004400070404a2241a6b1c80" in fix.raw


def test_gps_outside_for_ten_minutes_without_scans_is_a_departure() -> None:
    scenario = Scenario().run([*ON_POST, *track(0, 600, outside)])
    assert departures(scenario) == [0.0]


def test_gps_outside_while_scans_keep_coming_raises_no_departure() -> None:
    scenario = Scenario().run([*ON_POST, *track(0, 600, outside), *scan_every(20, 600, 45)])
    assert departures(scenario) == []
    assert [e for e in scenario.events if e.type.startswith("alert.")] == []


def test_uncertain_gps_with_scans_keeps_the_guard_on_post_and_the_terminal_heard() -> None:
    scenario = Scenario()
    scenario.run([*ON_POST, *track(0, 1800, uncertain, every_s=60), *scan_every(0, 1800, 300)])
    assert departures(scenario) == []
    assert [e for e in scenario.events if e.type.startswith("alert.")] == []


def test_when_the_scans_stop_and_gps_stays_outside_the_departure_is_confirmed() -> None:
    script = [*ON_POST, *scan_every(15, 300, 45), *track(0, 900, outside)]
    scenario = Scenario().run(script)
    # The last scan is at 285 s; the first outside fix after it starts the departure.
    assert departures(scenario) == [300.0]


def test_a_scan_during_a_departure_starts_the_return() -> None:
    script = [*ON_POST, *track(0, 300, outside), *scan_every(330, 330, 45)]
    scenario = Scenario().run([*script, (400, tick)])
    [returned] = scenario.only("presence.returned")
    assert returned.time == at(330)
    assert "checkpoint=cp-lobby" in str(returned.data["return_fix"])
