"""Patrol tours as specifications: a guard walks a route on a ManualClock; what the gateway says.

The route ``R`` has checkpoints A, B, C (in that order) with windows [0, 10], [10, 20] and
[20, 30] minutes into each round; a round starts every hour from the shift start at ``T0``; a
scan up to 5 minutes after a window's end is late (the default tolerance).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta

import pytest

from gateway.clock import ManualClock
from gateway.rules import RuleEvent, ShiftEnded, Tick
from gateway.rules.patrol import PatrolInput, next_patrol_deadline, step
from gateway.rules.patrol_events import ScanObserved
from gateway.rules.patrol_plan import PlannedCheckpoint, RoutePlan, round_starts
from gateway.rules.patrol_policy import PatrolPolicy
from gateway.rules.patrol_state import PatrolState

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 20:00 in Wuhan
SHIFT_END = T0 + timedelta(hours=2)
MIN = 60.0

ROUTE = RoutePlan(
    route_id="R",
    post_id="jt-patrol-central",
    checkpoints=(
        PlannedCheckpoint("A", 0, 10 * MIN),
        PlannedCheckpoint("B", 10 * MIN, 20 * MIN),
        PlannedCheckpoint("C", 20 * MIN, 30 * MIN),
    ),
    ordered=True,
    every_s=60 * MIN,
)
OPEN_WINDOWS = RoutePlan(
    route_id="R",
    post_id="jt-patrol-central",
    checkpoints=tuple(PlannedCheckpoint(c, 0, 30 * MIN) for c in "ABC"),
    ordered=True,
    every_s=60 * MIN,
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def scan(checkpoint: str, minutes: float, *, received_lag_min: float = 0) -> ScanObserved:
    return ScanObserved(
        checkpoint_id=checkpoint,
        reader_id="nfc-1",
        tag_id=f"04A2241A6B1C{ord(checkpoint):02X}",
        scanned_at=at(minutes),
        received_at=at(minutes + received_lag_min),
        raw=f"uid {checkpoint}",
    )


@dataclass
class Patrol:
    """Feeds inputs at clock times, ticking at every deadline on the way like the runtime."""

    plan: RoutePlan = ROUTE
    policy: PatrolPolicy = field(default_factory=PatrolPolicy)
    auto_tick: bool = True
    clock: ManualClock = field(default_factory=lambda: ManualClock(T0 - timedelta(minutes=5)))
    events: list[RuleEvent] = field(default_factory=list)
    state: PatrolState = field(init=False)

    def __post_init__(self) -> None:
        self.state = PatrolState.start(
            self.plan,
            shift_id="g-001/jt-patrol-central/20260302T120000Z",
            guard_id="g-001",
            site_id="wh-jiangtan-garden",
            shift_start=T0,
            shift_end=SHIFT_END,
        )

    def feed(self, item: PatrolInput) -> list[RuleEvent]:
        self.state, out = step(self.state, item, self.clock.now(), self.policy)
        self.events.extend(out)
        return out

    def advance(self, minutes: float) -> None:
        target = at(minutes)
        while self.auto_tick:
            due = self.state.next_deadline
            if due is None or due > target:
                break
            self.clock.set(max(due, self.clock.now()))
            self.feed(Tick())
        self.clock.set(max(target, self.clock.now()))

    def scan(self, checkpoint: str, minutes: float) -> list[RuleEvent]:
        self.advance(minutes)
        return self.feed(scan(checkpoint, minutes))

    def of(self, type_: str) -> list[RuleEvent]:
        return [e for e in self.events if e.type == type_]


def test_missed_checkpoint_fires_at_the_window_end_on_the_clock_with_no_input() -> None:
    patrol = Patrol()
    patrol.advance(9.99)
    assert patrol.events == []
    assert patrol.state.next_deadline == at(10)
    patrol.advance(10)
    [missed] = patrol.events
    assert missed.type == "alert.checkpoint_missed"
    assert missed.time == at(10)
    assert missed.data["checkpoint_id"] == "A"
    assert missed.data["window_end"] == at(10).isoformat()
    assert missed.data["detected_at"] == at(10).isoformat()
    assert missed.data["fired_late"] is False
    assert missed.alert_key == missed.key
    assert missed.key == (
        f"g-001/jt-patrol-central/20260302T120000Z/R:alert.checkpoint_missed:{T0.isoformat()}/A"
    )


def test_scan_inside_the_window_is_on_time_and_in_order() -> None:
    patrol = Patrol()
    [scanned] = patrol.scan("A", 4)
    assert scanned.type == "patrol.checkpoint_scanned"
    assert scanned.time == at(4)
    assert scanned.data["counted"] is True
    assert scanned.data["late"] is False
    assert scanned.data["out_of_order"] is False
    assert scanned.data["round_start"] == T0.isoformat()
    assert scanned.data["reader_id"] == "nfc-1"
    assert scanned.data["guard_id"] == "g-001"
    assert scanned.resolves == ()


def test_late_scan_within_tolerance_is_marked_late_and_resolves_the_missed_alert() -> None:
    patrol = Patrol()
    patrol.advance(12)
    [missed] = patrol.of("alert.checkpoint_missed")
    [scanned] = patrol.scan("A", 13)
    assert scanned.data["counted"] is True
    assert scanned.data["late"] is True
    assert scanned.data["late_by_s"] == 180.0
    assert scanned.resolves == (missed.alert_key,)


def test_scan_after_the_tolerance_counts_for_nothing_and_the_checkpoint_stays_missed() -> None:
    patrol = Patrol()
    patrol.scan("B", 12)
    [stray] = [e for e in patrol.scan("A", 16) if e.type == "patrol.checkpoint_scanned"]
    assert stray.data["counted"] is False
    assert stray.data["reason"] == "outside_window"
    patrol.scan("C", 22)
    [completed] = patrol.of("patrol.round_completed")
    # A's tolerance ran out at 15 min; the round settles with C's scan at 22.
    assert completed.time == at(22)
    assert completed.data["missed"] == 1
    assert completed.data["missed_checkpoints"] == ["A"]
    assert completed.data["fired_late"] is False


def test_round_with_every_checkpoint_on_time_completes_at_the_last_scan() -> None:
    patrol = Patrol()
    patrol.scan("A", 2)
    patrol.scan("B", 11)
    out = patrol.scan("C", 25)
    assert [e.type for e in out] == ["patrol.checkpoint_scanned", "patrol.round_completed"]
    completed = out[1]
    assert completed.time == at(25)
    assert {k: completed.data[k] for k in ("checkpoints", "scanned", "on_time", "late")} == {
        "checkpoints": 3,
        "scanned": 3,
        "on_time": 3,
        "late": 0,
    }
    assert (completed.data["missed"], completed.data["out_of_order"]) == (0, 0)
    assert completed.key.endswith(f"patrol.round_completed:{T0.isoformat()}")
    assert patrol.state.completed_rounds == 1
    # The next round's first deadline is A's window end in the second hour.
    assert patrol.state.next_deadline == at(70)


def test_round_completed_counts_scanned_missed_late_and_out_of_order() -> None:
    patrol = Patrol(plan=OPEN_WINDOWS)
    patrol.scan("A", 1)
    patrol.scan("C", 5)
    patrol.scan("B", 9)  # walked back from C: out of order
    completed = patrol.of("patrol.round_completed")[0]
    assert completed.data["scanned"] == 3
    assert completed.data["out_of_order"] == 1
    [b] = [e for e in patrol.of("patrol.checkpoint_scanned") if e.data["checkpoint_id"] == "B"]
    assert b.data["out_of_order"] is True

    mixed = Patrol()
    mixed.scan("A", 3)
    mixed.scan("C", 21)
    mixed.advance(26)  # B missed at 20, its tolerance runs out at 25
    [completed] = mixed.of("patrol.round_completed")
    assert completed.time == at(25)
    assert {k: completed.data[k] for k in ("scanned", "missed", "late", "out_of_order")} == {
        "scanned": 2,
        "missed": 1,
        "late": 0,
        "out_of_order": 0,
    }
    assert completed.data["missed_checkpoints"] == ["B"]


def test_late_scan_is_counted_as_late_in_the_round() -> None:
    patrol = Patrol()
    patrol.scan("A", 12)  # 2 min late
    patrol.scan("B", 15)
    patrol.scan("C", 29)
    [completed] = patrol.of("patrol.round_completed")
    assert (completed.data["on_time"], completed.data["late"], completed.data["missed"]) == (
        2,
        1,
        0,
    )


def test_skipping_a_checkpoint_is_missed_not_out_of_order() -> None:
    patrol = Patrol(plan=OPEN_WINDOWS)
    patrol.scan("A", 1)
    patrol.scan("C", 5)
    assert all(e.data["out_of_order"] is False for e in patrol.of("patrol.checkpoint_scanned"))
    patrol.advance(40)
    [missed] = patrol.of("alert.checkpoint_missed")
    assert (missed.data["checkpoint_id"], missed.time) == ("B", at(30))


def test_unordered_route_never_marks_out_of_order() -> None:
    unordered = RoutePlan(
        route_id="R",
        post_id="p",
        checkpoints=OPEN_WINDOWS.checkpoints,
        ordered=False,
        every_s=3600,
    )
    patrol = Patrol(plan=unordered)
    for minutes, cp in ((1, "C"), (2, "B"), (3, "A")):
        patrol.scan(cp, minutes)
    [completed] = patrol.of("patrol.round_completed")
    assert completed.data["out_of_order"] == 0
    assert completed.data["scanned"] == 3


def test_repeated_read_within_the_debounce_yields_nothing_and_a_later_one_is_a_repeat() -> None:
    patrol = Patrol()
    patrol.scan("A", 2)
    assert patrol.feed(scan("A", 2 + 5 / 60)) == []  # 5 s later: the same tag still held there
    [repeat] = patrol.scan("A", 4)
    assert repeat.data["counted"] is False
    assert repeat.data["reason"] == "repeat"
    assert repeat.key.endswith(f"A@{at(4).isoformat()}")


def test_scan_in_no_window_is_reported_outside_window() -> None:
    patrol = Patrol()
    [stray] = patrol.scan("C", 5)  # C's window opens at 20 min
    assert stray.data["counted"] is False
    assert stray.data["reason"] == "outside_window"


def test_state_survives_a_restart_and_a_deadline_passed_while_down_fires_marked_late() -> None:
    patrol = Patrol(auto_tick=False)
    patrol.clock.set(at(1))
    patrol.feed(scan("A", 1))
    stored = json.loads(json.dumps(patrol.state.to_json()))
    restored = PatrolState.from_json(stored)
    assert restored == patrol.state
    patrol.state = restored
    patrol.clock.set(at(40))  # the gateway was down from 1 to 40 min
    out = patrol.feed(Tick())
    assert [(e.type, e.time) for e in out] == [
        ("alert.checkpoint_missed", at(20)),
        ("alert.checkpoint_missed", at(30)),
        ("patrol.round_completed", at(35)),
    ]
    assert all(e.data["fired_late"] and e.data["backfilled"] for e in out)
    assert out[2].data["missed"] == 2


def test_the_same_inputs_give_the_same_event_keys() -> None:
    def keys() -> list[str]:
        patrol = Patrol()
        patrol.scan("A", 2)
        patrol.scan("C", 22)
        patrol.advance(120)
        return [e.key for e in patrol.events]

    first = keys()
    assert first == keys()
    assert len(first) == len(set(first))


def test_every_round_of_the_shift_is_decided_and_then_nothing_is_pending() -> None:
    patrol = Patrol()
    patrol.advance(120)
    assert len(patrol.of("alert.checkpoint_missed")) == 6
    assert len(patrol.of("patrol.round_completed")) == 2
    assert patrol.state.next_deadline is None
    assert patrol.state.rounds == ()


def test_shift_ended_early_completes_the_started_round_and_drops_the_rest() -> None:
    patrol = Patrol()
    patrol.scan("A", 3)
    patrol.advance(12)
    out = patrol.feed(ShiftEnded())
    [completed] = out
    assert completed.data["ended_early"] is True
    assert (completed.data["scanned"], completed.data["not_due"]) == (1, 2)
    assert patrol.state.closed
    assert patrol.state.next_deadline is None
    assert patrol.feed(scan("B", 13)) == []


def test_rounds_every_hour_fit_whole_in_the_shift() -> None:
    assert round_starts(ROUTE, T0, SHIFT_END) == (T0, at(60))
    assert round_starts(ROUTE, T0, at(89)) == (T0,)


def test_rounds_at_local_times_of_day_across_midnight() -> None:
    plan = RoutePlan(
        route_id="night",
        post_id="p",
        checkpoints=(PlannedCheckpoint("A", 0, 600),),
        times=(time(21, 0), time(23, 30), time(2, 0), time(7, 55)),
        timezone="Asia/Shanghai",
    )
    # Night shift 20:00-08:00 Wuhan time = 12:00-00:00 UTC.
    starts = round_starts(plan, T0, T0 + timedelta(hours=12))
    assert starts == (
        datetime(2026, 3, 2, 13, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 15, 30, tzinfo=UTC),
        datetime(2026, 3, 2, 18, 0, tzinfo=UTC),
    )  # 07:55 + 10 min runs past the shift's end: not planned


def test_a_route_must_name_one_kind_of_schedule() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RoutePlan(route_id="x", post_id="p", checkpoints=ROUTE.checkpoints)
    with pytest.raises(ValueError, match="window"):
        PlannedCheckpoint("A", 600, 0)


def test_a_scan_of_a_checkpoint_not_on_the_route_is_not_this_routes_business() -> None:
    patrol = Patrol()
    assert patrol.scan("Z", 3) == []
    assert patrol.state.last_scans == ()


def test_a_shift_known_only_after_its_start_plans_the_rounds_from_then() -> None:
    # The site was first loaded at 20:30: the 20:00 round's scans were never received.
    patrol = Patrol()
    patrol.state = PatrolState.start(
        ROUTE,
        shift_id=patrol.state.shift_id,
        guard_id="g-001",
        site_id="wh-jiangtan-garden",
        shift_start=T0,
        shift_end=SHIFT_END,
        known_from=at(30),
    )
    assert [r.started_at for r in patrol.state.rounds] == [at(60)]
    patrol.clock.set(at(30))
    patrol.advance(69.9)
    assert patrol.events == []
    patrol.advance(71)
    assert [(e.type, e.time) for e in patrol.events] == [("alert.checkpoint_missed", at(70))]


def test_a_route_replanned_mid_shift_keeps_the_round_under_way_and_plans_the_rest_anew() -> None:
    patrol = Patrol()
    patrol.scan("A", 5)
    assert patrol.state.replanned(ROUTE, T0, at(15)) is patrol.state  # the same plan: as is
    without_c = replace(ROUTE, checkpoints=ROUTE.checkpoints[:2])
    moved = patrol.state.replanned(without_c, T0, at(15))
    under_way, later = moved.rounds
    assert under_way == patrol.state.rounds[0]  # A scanned, B and C as the guard was sent
    assert [v.checkpoint_id for v in later.visits] == ["A", "B"]
    assert moved.checkpoint_ids == ("A", "B", "C")  # C still counts for the round under way
    patrol.state = replace(moved, next_deadline=next_patrol_deadline(moved, patrol.policy))
    patrol.advance(119)
    missed = [(e.data["checkpoint_id"], e.time) for e in patrol.of("alert.checkpoint_missed")]
    assert missed == [("B", at(20)), ("C", at(30)), ("A", at(70)), ("B", at(80))]


def test_a_window_spent_on_leave_is_excused_and_a_late_scan_of_it_resolves_nothing() -> None:
    patrol = Patrol()
    # On leave 07:55-08:12: A's window (08:00-08:10) lies in it, B's (08:10-08:20) does not.
    patrol.state = replace(patrol.state, on_leave=((at(-5), at(12), at(-30)),))
    patrol.advance(20)
    assert [e.data["checkpoint_id"] for e in patrol.of("alert.checkpoint_missed")] == ["B"]
    [scanned] = patrol.scan("A", 13)  # back, within A's tolerance
    assert (scanned.data["late"], scanned.data["excused"], scanned.resolves) == (True, True, ())
    patrol.advance(60)
    [done] = patrol.of("patrol.round_completed")
    assert (done.data["scanned"], done.data["missed"], done.data["excused"]) == (1, 2, 0)
    restored = PatrolState.from_json(json.loads(json.dumps(patrol.state.to_json())))
    assert restored == patrol.state and restored.on_leave == ((at(-5), at(12), at(-30)),)


def test_a_round_wholly_on_leave_counts_its_checkpoints_excused() -> None:
    patrol = Patrol()
    patrol.state = replace(patrol.state, on_leave=((at(-5), at(45), at(-30)),))
    patrol.advance(45)
    assert patrol.of("alert.checkpoint_missed") == []
    [done] = patrol.of("patrol.round_completed")
    assert (done.data["missed"], done.data["excused"]) == (0, 3)
    assert done.data["excused_checkpoints"] == ["A", "B", "C"]
