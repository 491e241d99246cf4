"""A leave typed in after a patrol window it spanned ran out withdraws that checkpoint's missed
alert, when it was approved by then (``gateway.rules.patrol_leave``). The route of
``test_patrol_rules``: A, B, C with windows [0, 10], [10, 20], [20, 30] minutes into each round,
5 minutes' tolerance."""

from __future__ import annotations

import json
from dataclasses import replace

from gateway.rules.inputs import LeaveCancelled, ShiftEnded, Tick
from gateway.rules.patrol_leave import LeaveEntered
from gateway.rules.patrol_state import PatrolState

from .test_patrol_rules import Patrol, at


def _typed_in(patrol: Patrol, minutes: float, until: float, *, approved: float = -30) -> None:
    """A leave from the shift start to minute ``until``, approved at minute ``approved``,
    typed in at minute ``minutes``."""
    patrol.advance(minutes)
    patrol.feed(LeaveEntered("L1", at(0), at(until), at(approved)))


def _withdrawn(patrol: Patrol) -> list[str]:
    return [str(e.data["checkpoint_id"]) for e in patrol.of("alert.withdrawn")]


def test_a_window_spent_on_a_leave_typed_in_later_is_withdrawn_and_counted_excused() -> None:
    patrol = Patrol()
    _typed_in(patrol, 25, 15)  # A (0-10) lies in the leave, B (10-20) does not
    assert _withdrawn(patrol) == ["A"]
    missed_a = patrol.of("alert.checkpoint_missed")[0]
    [withdrawn] = patrol.of("alert.withdrawn")
    assert withdrawn.withdraws == (missed_a.alert_key,) and withdrawn.time == at(25)
    assert withdrawn.data["reason"] == "leave_on_record"
    assert withdrawn.data["withdrawn_type"] == "alert.checkpoint_missed"
    assert withdrawn.key != missed_a.key
    patrol.advance(60)
    [done] = patrol.of("patrol.round_completed")
    assert (done.data["missed"], done.data["excused"]) == (2, 1)
    assert done.data["missed_checkpoints"] == ["B", "C"]


def test_after_the_round_completed_the_alerts_are_withdrawn_and_its_counts_stay() -> None:
    patrol = Patrol()
    _typed_in(patrol, 50, 32)
    assert _withdrawn(patrol) == ["A", "B", "C"]
    [done] = patrol.of("patrol.round_completed")
    assert done.data["missed"] == 3  # final when it was given
    assert patrol.state.missed == ()


def test_a_leave_approved_after_the_window_ran_out_withdraws_nothing() -> None:
    patrol = Patrol()
    _typed_in(patrol, 25, 15, approved=12)
    assert _withdrawn(patrol) == []
    assert [m.checkpoint_id for m in patrol.state.missed] == ["A", "B"]


def test_a_missed_alert_a_late_scan_resolved_is_not_withdrawn_again() -> None:
    patrol = Patrol()
    patrol.scan("A", 13)  # late, within the tolerance: resolves A's alert
    _typed_in(patrol, 25, 15)
    assert _withdrawn(patrol) == []


def test_the_missed_alerts_survive_a_restart() -> None:
    patrol = Patrol()
    patrol.advance(21)
    restored = PatrolState.from_json(json.loads(json.dumps(patrol.state.to_json())))
    assert restored == patrol.state
    assert [(m.checkpoint_id, m.window_end) for m in restored.missed] == [
        ("A", at(10)),
        ("B", at(20)),
    ]
    patrol.state = restored
    _typed_in(patrol, 25, 22)
    assert _withdrawn(patrol) == ["A", "B"]


def _cancelled(patrol: Patrol, minutes: float, back: float, *others: float) -> None:
    """At minute ``minutes``, the leave from the shift start approved at -30 is cancelled as
    of minute ``back``; ``others``: the starts of other leaves approved at -30, cancelled then
    too. The caller gives the leaves in ``on_leave`` (the patrol stage, from the presence
    machine)."""
    patrol.advance(minutes)
    spans = tuple((at(start), at(back), at(-30)) for start in (0, *others))
    patrol.state = replace(patrol.state, on_leave=spans)
    patrol.feed(LeaveCancelled("L1", at(back)))


def _missed_again(patrol: Patrol) -> list[tuple[str, bool, str]]:
    """``(checkpoint, raised again, key)`` of the missed alerts a cancellation raised."""
    return [
        (str(e.data["checkpoint_id"]), bool(e.data["raised_again"]), e.key)
        for e in patrol.of("alert.checkpoint_missed")
        if e.data.get("reason") == "leave_cancelled"
    ]


def test_a_cancellation_dated_before_a_withdrawn_window_ended_raises_it_again() -> None:
    patrol = Patrol()
    _typed_in(patrol, 35, 32)  # A, B and C withdrawn; the round completed at 35
    _cancelled(patrol, 40, 15)  # back at 15: B (10-20) and C (20-30) were his
    first_b = patrol.of("alert.checkpoint_missed")[1]
    again = _missed_again(patrol)
    assert [(cp, raised) for cp, raised, _ in again] == [("B", True), ("C", True)]
    assert again[0][2] == f"{first_b.key}/again-1"  # a new alert, not the one withdrawn
    [b_again, _] = [e for e in patrol.of("alert.checkpoint_missed") if e.data.get("reason")]
    assert (b_again.time, b_again.alert_key, b_again.data["position"]) == (at(20), b_again.key, 1)
    assert b_again.data["cancelled_at"] == at(15).isoformat() and b_again.data["backfilled"]
    assert [m.checkpoint_id for m in patrol.state.missed] == ["B", "C"]
    assert [m.checkpoint_id for m in patrol.state.excused_windows] == ["A"]


def test_raised_again_in_a_round_under_way_it_is_counted_missed_and_a_late_scan_resolves_it() -> (
    None
):
    patrol = Patrol()
    _typed_in(patrol, 11, 30)  # A (0-10) withdrawn, the round under way
    _cancelled(patrol, 12, 5)
    [(_, _, key)] = _missed_again(patrol)
    [scanned] = patrol.scan("A", 13)  # late, within A's tolerance
    assert scanned.resolves == (key,)
    assert patrol.state.missed == () and patrol.state.excused_windows == ()


def test_a_cancellation_after_the_windows_ended_raises_nothing() -> None:
    patrol = Patrol()
    _typed_in(patrol, 35, 32)
    _cancelled(patrol, 40, 31)
    assert _missed_again(patrol) == []
    assert [m.checkpoint_id for m in patrol.state.excused_windows] == ["A", "B", "C"]


def test_withdrawn_twice_it_is_raised_a_third_time_under_a_key_of_its_own() -> None:
    patrol = Patrol()
    _typed_in(patrol, 35, 32)
    _cancelled(patrol, 40, 15)  # B and C raised again
    patrol.feed(LeaveEntered("L2", at(12), at(32), at(-30)))  # a second leave, typed in
    assert _withdrawn(patrol) == ["A", "B", "C", "C"]  # C (20-30) lay in it, B (10-20) not
    _cancelled(patrol, 45, 15, 12)
    keys = [key for cp, _, key in _missed_again(patrol) if cp == "C"]
    assert [key.rsplit("/", 1)[1] for key in keys] == ["again-1", "again-2"]


def test_the_excused_windows_survive_a_restart() -> None:
    patrol = Patrol()
    _typed_in(patrol, 35, 32)
    restored = PatrolState.from_json(json.loads(json.dumps(patrol.state.to_json())))
    assert restored == patrol.state
    assert [m.withdrawals for m in restored.excused_windows] == [1, 1, 1]


def test_a_machine_closed_at_a_relief_takes_the_leave_and_its_cancellation_and_stays_closed() -> (
    None
):
    patrol = Patrol()
    patrol.advance(35)  # A, B and C missed; the round completed at 35
    patrol.feed(ShiftEnded())  # relieved: closed
    closed = patrol.state
    assert closed.closed
    _typed_in(patrol, 600, 32)  # typed in the next morning
    assert _withdrawn(patrol) == ["A", "B", "C"]
    assert patrol.state.closed and patrol.state.next_deadline is None
    _cancelled(patrol, 610, 15)
    assert [(cp, raised) for cp, raised, _ in _missed_again(patrol)] == [("B", True), ("C", True)]
    assert patrol.state.closed
    # Nothing else reaches it, and a leave with nothing to change leaves it as it was.
    after = patrol.state
    assert patrol.feed(Tick()) == [] and patrol.state is after
    assert patrol.feed(LeaveEntered("L3", at(40), at(50), at(-30))) == []
    assert patrol.state is after
