"""A leave typed in after a patrol window it spanned ran out withdraws that checkpoint's missed
alert, when it was approved by then (``gateway.rules.patrol_leave``). The route of
``test_patrol_rules``: A, B, C with windows [0, 10], [10, 20], [20, 30] minutes into each round,
5 minutes' tolerance."""

from __future__ import annotations

import json

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
