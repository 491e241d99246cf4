"""Attendance as specifications: punches on a ManualClock, late clock-in, break-out as a report.

The shift runs 08:00-20:00 UTC from ``T0``; the clock-in grace is the default 15 minutes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.clock import ManualClock
from gateway.records import CheckpointScan, Punch, PunchKind, TagTechnology, VerifyMode
from gateway.rules import (
    ReportFiled,
    RuleEvent,
    RuleInput,
    ShiftEnded,
    Tick,
    unknown_tag_event,
)
from gateway.rules.attendance import (
    AttendanceInput,
    AttendanceState,
    LeaveExcuses,
    late_clock_in_key,
    scheduled,
    step,
)
from gateway.rules.patrol_events import unknown_person_event
from gateway.rules.patrol_policy import PatrolPolicy, patrol_policy
from gateway.rules.patrol_presence import punch_presence_inputs, punch_report_id
from geofence.membership import Membership

from .scenario import DEVICE, Build, Scenario, inside, outside, track

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POLICY = PatrolPolicy()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def punch(kind: PunchKind, minutes: float, *, person: str = "1001", lag_min: float = 0) -> Punch:
    return Punch(
        terminal_id="zk-gate-north",
        person_id=person,
        punched_at=at(minutes),
        received_at=at(minutes + lag_min),
        kind=kind,
        verify=VerifyMode.FINGERPRINT,
        source_format="zk_push",
        raw=f"{person}\t{at(minutes):%Y-%m-%d %H:%M:%S}\t0\t1",
    )


class Attendance:
    def __init__(self) -> None:
        self.clock = ManualClock(T0 - timedelta(minutes=30))
        self.state = AttendanceState.start(
            "g-001/jt-gate-north/20260302T080000Z",
            "g-001",
            "jt-gate-north",
            "wh-jiangtan-garden",
            T0,
            T0 + timedelta(hours=12),
        )
        self.events: list[RuleEvent] = []

    def feed(self, item: AttendanceInput) -> list[RuleEvent]:
        self.state, out = step(self.state, item, self.clock.now(), POLICY)
        self.events.extend(out)
        return out

    def advance(self, minutes: float) -> None:
        target = at(minutes)
        while (due := self.state.next_deadline) is not None and due <= target:
            self.clock.set(max(due, self.clock.now()))
            self.feed(Tick())
        self.clock.set(max(target, self.clock.now()))

    def punch(self, kind: PunchKind, minutes: float) -> list[RuleEvent]:
        self.advance(minutes)
        return self.feed(punch(kind, minutes))


def test_check_in_10_minutes_after_the_shift_start_is_within_the_grace() -> None:
    day = Attendance()
    [event] = day.punch(PunchKind.CHECK_IN, 10)
    assert event.type == "attendance.punch"
    assert event.time == at(10)
    assert event.data["kind"] == "check_in"
    assert event.data["verify"] == "fingerprint"
    assert event.data["terminal_id"] == "zk-gate-north"
    assert event.data["late"] is False
    assert event.data["after_shift_start_s"] == 600.0
    day.advance(60)
    assert [e.type for e in day.events] == ["attendance.punch"]
    assert day.state.next_deadline is None


def test_check_in_20_minutes_after_the_shift_start_is_late_and_resolves_the_alert() -> None:
    day = Attendance()
    day.advance(20)
    [alert] = day.events
    assert alert.type == "alert.late_clock_in"
    assert alert.time == at(15)
    assert alert.data["detected_at"] == at(15).isoformat()
    assert alert.alert_key == late_clock_in_key(day.state)
    [event] = day.punch(PunchKind.CHECK_IN, 20)
    assert event.data["late"] is True
    assert event.resolves == (alert.alert_key,)


def test_late_clock_in_fires_on_the_clock_with_no_input_at_all() -> None:
    day = Attendance()
    day.clock.set(at(15))
    [alert] = day.feed(Tick())
    assert alert.type == "alert.late_clock_in"
    assert day.feed(Tick()) == []


def test_check_in_stored_by_an_offline_terminal_and_dated_in_time_raises_nothing() -> None:
    day = Attendance()
    day.clock.set(at(40))
    out = day.feed(punch(PunchKind.CHECK_IN, 5, lag_min=35))
    assert [e.type for e in out] == ["attendance.punch"]
    assert out[0].data["backfilled"] is True
    assert day.feed(Tick()) == []


@pytest.mark.parametrize(
    ("punched_min", "withdrawn"),
    [(-2, True), (14.9, True), (15, False), (20, False)],
    ids=["before the start", "before it fell", "as it fell", "after it fell"],
)
def test_a_late_clock_in_raised_while_the_terminal_was_offline_is_withdrawn_by_its_punch(
    punched_min: float, withdrawn: bool
) -> None:
    # The terminal lost its network at 07:50 and pushes the punches it kept at 08:40 (ZKTeco
    # terminals keep them and push their ATTLOG when back): the clock raised him late at
    # 08:15 meanwhile. Punched before that, he was not late: withdrawn. Before, the punch
    # only resolved the alert and was marked late.
    day = Attendance()
    day.advance(40)
    [late] = day.events
    out = day.feed(punch(PunchKind.CHECK_IN, punched_min, lag_min=40 - punched_min))
    check_in = out[0]
    assert check_in.type == "attendance.punch" and check_in.data["backfilled"] is True
    assert check_in.data["late"] is not withdrawn
    if withdrawn:
        assert check_in.resolves == ()
        [withdrawal] = out[1:]
        assert withdrawal.type == "alert.withdrawn" and withdrawal.withdraws == (late.alert_key,)
        assert withdrawal.time == at(40)
        assert withdrawal.data["reason"] == "checked_in_before"
        assert withdrawal.data["checked_in_at"] == at(punched_min).isoformat()
        assert withdrawal.data["fell_at"] == at(15).isoformat()
        # A leave over the start typed in later has nothing left to withdraw.
        _entered(day, 50, 30, approved=-60)
        assert [e.type for e in day.events] == [
            "alert.late_clock_in",
            "attendance.punch",
            "alert.withdrawn",
        ]
    else:
        assert out == [check_in] and check_in.resolves == (late.alert_key,)


def test_a_machine_closed_at_a_relief_reports_punches_pushed_late_and_decides_nothing() -> None:
    # Raised late at 08:15, relieved at 09:00; at 09:10 the terminal, offline since 07:50,
    # pushes his break-out of 08:50 and his check-in of 07:58: both reported, the check-in
    # withdraws the late clock-in it shows wrong, and the machine stays closed.
    day = Attendance()
    day.advance(60)
    day.feed(ShiftEnded())
    [late] = day.events
    assert day.state.closed and day.state.next_deadline is None
    day.advance(70)
    [break_out] = day.feed(punch(PunchKind.BREAK_OUT, 50, lag_min=20))
    assert break_out.type == "attendance.punch" and break_out.data["kind"] == "break_out"
    check_in, withdrawn = day.feed(punch(PunchKind.CHECK_IN, -2, lag_min=72))
    assert check_in.data["late"] is False
    assert withdrawn.withdraws == (late.alert_key,)
    assert withdrawn.data["reason"] == "checked_in_before"
    assert day.state.closed and day.state.next_deadline is None
    assert day.feed(punch(PunchKind.CHECK_IN, -2, lag_min=72)) == []  # pushed again


def test_the_same_punch_pushed_twice_is_reported_once() -> None:
    day = Attendance()
    day.punch(PunchKind.CHECK_IN, 1)
    assert day.feed(punch(PunchKind.CHECK_IN, 1)) == []
    assert len(day.events) == 1


def test_every_punch_kind_is_reported_and_only_check_in_counts_as_clocking_in() -> None:
    day = Attendance()
    day.punch(PunchKind.BREAK_OUT, 1)
    day.advance(16)
    assert [e.type for e in day.events] == ["attendance.punch", "alert.late_clock_in"]


def test_state_round_trips_through_json_and_closes_on_shift_end() -> None:
    day = Attendance()
    day.punch(PunchKind.CHECK_IN, 2)
    restored = AttendanceState.from_json(json.loads(json.dumps(day.state.to_json())))
    assert restored == day.state
    day.state = restored
    day.feed(ShiftEnded())
    assert day.state.closed
    assert day.feed(punch(PunchKind.CHECK_OUT, 700)) == []


def test_clock_in_grace_is_a_site_policy_field() -> None:
    assert patrol_policy({"clock_in_grace_s": 300, "verbal_report_limit_s": 1}) == PatrolPolicy(
        clock_in_grace_s=300
    )


# --- unknown cards and tags -----------------------------------------------------------------


def test_unknown_person_is_reported_with_a_key_stable_across_pushes() -> None:
    p = punch(PunchKind.CHECK_IN, 3, person="9999")
    first = unknown_person_event(p, at(3), "wh-jiangtan-garden")
    again = unknown_person_event(p, at(30), "wh-jiangtan-garden")
    assert first.type == "attendance.unknown_person"
    assert first.key == again.key
    assert first.data["person_id"] == "9999"
    assert first.data["raw"] == p.raw
    assert again.data["backfilled"] is True


def test_unknown_tag_is_reported_with_its_evidence() -> None:
    scan = CheckpointScan(
        reader_id="nfc-1",
        tag_id="04DEADBEEF0000",
        scanned_at=at(1),
        received_at=at(1),
        technology=TagTechnology.NFC_TYPE2,
        source_format="nfcpy",
        raw="uid 04deadbeef0000",
    )
    event = unknown_tag_event(scan, at(1))
    assert event.type == "patrol.unknown_tag"
    assert event.key == f"reader:nfc-1:patrol.unknown_tag:04DEADBEEF0000@{at(1).isoformat()}"
    assert event.data["technology"] == "nfc_type2"
    assert event.data["backfilled"] is False


# --- punches and the presence rules -----------------------------------------------------------


ON_POST = track(-300, -30, inside)


def _presence_with(extra: list[tuple[float, Build]]) -> Scenario:
    """On post, GPS outside from 0 s to 600 s, back from 630 s; ``extra`` inputs among them."""
    script = [*ON_POST, *track(0, 600, outside), *track(630, 900, inside), *extra]
    return Scenario().run(script)


def _break_out(offset_s: float) -> tuple[Punch, list[tuple[float, Build]]]:
    when = at(offset_s / 60)
    p = Punch("zk-gate-north", "1001", when, when, PunchKind.BREAK_OUT)
    inputs = punch_presence_inputs(p, terminal_at_post=True, lat=30.6, lon=114.3, device_id=DEVICE)
    return p, [(offset_s, _const(item)) for item in inputs]


def _const(item: RuleInput) -> Build:
    return lambda _now: item


def test_break_out_punch_is_the_verbal_report_so_the_departure_is_not_unreported() -> None:
    without = _presence_with([])
    assert [e.type for e in without.events if e.type.startswith("alert.")] == [
        "alert.unreported_departure"
    ]
    p, inputs = _break_out(-20)
    reported = _presence_with(inputs)
    [departed] = reported.only("presence.departed")
    assert departed.data["report_id"] == punch_report_id(p)
    assert [e.type for e in reported.events if e.type.startswith("alert.")] == []


def test_break_out_at_a_terminal_elsewhere_is_still_the_report() -> None:
    p = Punch("zk-hq", "1001", T0, T0, PunchKind.BREAK_OUT)
    [report] = punch_presence_inputs(p, terminal_at_post=False)
    assert isinstance(report, ReportFiled)
    assert report.report_id == punch_report_id(p)
    assert report.reported_at == T0


def test_break_in_at_the_post_terminal_is_evidence_of_being_back_inside() -> None:
    p = Punch("zk-gate-north", "1001", T0, T0, PunchKind.BREAK_IN)
    [fix] = punch_presence_inputs(p, terminal_at_post=True)
    assert fix.membership is Membership.INSIDE  # type: ignore[union-attr]
    assert fix.device_id == "zk-gate-north"  # type: ignore[union-attr]
    assert "kind=break_in" in fix.raw  # type: ignore[union-attr]
    assert punch_presence_inputs(p, terminal_at_post=False) == ()


def test_a_shift_known_only_after_its_start_counts_the_clock_in_grace_from_then() -> None:
    # The site was first loaded at 10:30 of the 08:00 shift: 08:15 could not be watched.
    day = Attendance()
    day.state = AttendanceState.start(
        day.state.shift_id, "g-001", "jt-gate-north", "wh-jiangtan-garden", T0, at(720), at(150)
    )
    day.clock.set(at(150))
    day.advance(164.9)
    assert day.events == []
    day.advance(170)
    [alert] = day.events
    assert (alert.type, alert.time) == ("alert.late_clock_in", at(165))
    assert AttendanceState.from_json(day.state.to_json()) == day.state


def test_a_check_in_from_before_the_shift_was_known_still_counts() -> None:
    day = Attendance()
    day.state = AttendanceState.start(
        day.state.shift_id, "g-001", "jt-gate-north", "wh-jiangtan-garden", T0, at(720), at(150)
    )
    day.clock.set(at(151))
    out = day.feed(punch(PunchKind.CHECK_IN, 3, lag_min=148))  # uploaded after the load
    assert [(e.type, e.data["late"]) for e in out] == [("attendance.punch", False)]
    day.advance(240)
    assert [e.type for e in day.events] == ["attendance.punch"]


def test_a_new_state_scheduled_is_what_a_tick_finding_nothing_due_leaves() -> None:
    for now in (at(-10), at(0), at(14)):
        ticked, events = step(Attendance().state, Tick(), now, POLICY)
        assert events == []
        assert scheduled(Attendance().state, now, POLICY) == ticked
        assert (ticked.next_deadline, ticked.stepped_at) == (at(15), now)


def test_a_state_started_after_its_clock_in_grace_is_left_for_its_tick_to_decide() -> None:
    fresh = Attendance().state
    assert scheduled(fresh, at(40), POLICY) == fresh
    [alert] = step(fresh, Tick(), at(40), POLICY)[1]
    assert (alert.type, alert.time, alert.data["fired_late"]) == (
        "alert.late_clock_in",
        at(15),
        True,
    )
    stepped, _ = step(fresh, Tick(), at(1), POLICY)
    assert scheduled(stepped, at(2), POLICY) is stepped


def test_a_leave_over_the_start_moves_the_clock_in_grace_to_its_end() -> None:
    day = Attendance()
    day.state = replace(day.state, excused_until=at(50))
    day.clock.set(at(0))
    day.feed(Tick())
    assert day.state.next_deadline == at(65)
    day.advance(64)
    assert day.events == []
    day.advance(66)
    [alert] = day.events
    assert (alert.type, alert.time, alert.data["excused_until"]) == (
        "alert.late_clock_in",
        at(65),
        at(50).isoformat(),
    )
    restored = AttendanceState.from_json(json.loads(json.dumps(day.state.to_json())))
    assert restored == day.state and restored.excused_until == at(50)


def _entered(day: Attendance, minutes: float, until: float | None, approved: float) -> None:
    """A leave approved at minute ``approved`` typed in at ``minutes``, excusing him to
    ``until`` (``None``: it covers no time he was expected)."""
    day.advance(minutes)
    day.feed(LeaveExcuses("L1", at(approved), None if until is None else at(until)))


def test_a_leave_approved_before_the_late_clock_in_but_entered_after_withdraws_it() -> None:
    # Late at 08:15; a leave to 08:50 approved at 07:00 typed in at 08:30; in at 08:55.
    day = Attendance()
    _entered(day, 30, 50, approved=-60)
    late, withdrawn = day.events
    assert withdrawn.type == "alert.withdrawn"
    assert withdrawn.withdraws == (late.alert_key,) and withdrawn.time == at(30)
    assert withdrawn.data["reason"] == "leave_on_record"
    assert withdrawn.data["excused_until"] == at(50).isoformat()
    assert withdrawn.key != late.key
    [check_in] = day.punch(PunchKind.CHECK_IN, 55)
    assert check_in.data["late"] is False and check_in.resolves == ()
    day.advance(120)
    assert [e.type for e in day.events] == [
        "alert.late_clock_in",
        "alert.withdrawn",
        "attendance.punch",
    ]


def test_not_in_after_the_excused_grace_he_is_raised_again_under_a_new_key() -> None:
    # Leave to 08:30 typed in at 08:40: late again at 08:45; his check-in at 09:00 resolves it.
    day = Attendance()
    _entered(day, 40, 30, approved=-60)
    day.advance(50)
    first, _withdrawn, again = day.events
    assert again.type == "alert.late_clock_in" and again.time == at(45)
    assert again.alert_key != first.alert_key
    [check_in] = day.punch(PunchKind.CHECK_IN, 60)
    assert check_in.resolves == (again.alert_key,) and check_in.data["late"] is True


def test_a_late_clock_in_stands_when_the_leave_came_after_it_or_did_not_excuse_it() -> None:
    # Approved after the alert fell (08:20): right when raised.
    day = Attendance()
    _entered(day, 30, 50, approved=20)
    assert [e.type for e in day.events] == ["alert.late_clock_in"]
    assert day.state.excused_until == at(50)
    # Leave to 08:20 typed in at 09:00 after a check-in at 08:50: late after the leave too.
    day = Attendance()
    day.punch(PunchKind.CHECK_IN, 50)
    _entered(day, 60, 20, approved=-60)
    assert [e.type for e in day.events] == ["alert.late_clock_in", "attendance.punch"]
    # A leave that covers no time he was expected excuses nothing.
    day = Attendance()
    _entered(day, 30, None, approved=-60)
    assert [e.type for e in day.events] == ["alert.late_clock_in"]


def test_what_a_withdrawal_needs_survives_a_restart() -> None:
    day = Attendance()
    day.advance(20)
    day.state = AttendanceState.from_json(json.loads(json.dumps(day.state.to_json())))
    assert day.state.late_raised_at == at(15)
    _entered(day, 30, 50, approved=-60)
    assert [e.type for e in day.events] == ["alert.late_clock_in", "alert.withdrawn"]


def test_a_leave_waiting_for_a_late_push_survives_a_restart() -> None:
    # Late at 08:15; a leave to 08:20 approved at 07:00 typed in at 09:00, he not known to be
    # in: the alert stands for now. Restarted, the check-in of 08:25 pushed at 09:30 still
    # withdraws it (in by 08:35, the excused grace's end).
    day = Attendance()
    _entered(day, 60, 20, approved=-60)
    assert day.state.excused_by == "L1"
    day.state = AttendanceState.from_json(json.loads(json.dumps(day.state.to_json())))
    assert (day.state.excused_by, day.state.excused_approved_at) == ("L1", at(-60))
    day.advance(90)
    out = day.feed(punch(PunchKind.CHECK_IN, 25, lag_min=65))
    assert [e.type for e in out] == ["attendance.punch", "alert.withdrawn"]
    assert out[1].data["reason"] == "leave_on_record" and out[1].data["leave_id"] == "L1"


EXTENDED = {"L1": (-60.0, 30.0), "L2": (50.0, 90.0)}
"""A leave to 08:30 approved at 07:00, and its extension to 09:30 approved at 08:50: ``{id:
(approved, until)}`` in minutes."""


def _typed_in(day: Attendance, order: list[str]) -> None:
    """``EXTENDED``'s leaves typed in at 09:00 and 09:10 in ``order``, each with the excusal
    the presence machine gives then: of every leave typed in, and of those approved by a time
    (``LeaveExcuses.approved_by``)."""
    for minutes, n in ((60, 1), (70, 2)):
        day.advance(minutes)
        known = {k: EXTENDED[k] for k in order[:n]}

        def excused(by: datetime, known: dict[str, tuple[float, float]] = known) -> datetime | None:
            return max((at(u) for a, u in known.values() if at(a) <= by), default=None)

        leave_id = order[n - 1]
        approved, _ = EXTENDED[leave_id]
        day.feed(LeaveExcuses(leave_id, at(approved), excused(at(24 * 60)), excused))


@pytest.mark.parametrize("order", [["L2", "L1"], ["L1", "L2"]], ids=["extension first", "last"])
def test_a_push_is_judged_on_the_leaves_approved_by_the_time_the_alert_fell(
    order: list[str],
) -> None:
    # Late at 08:15. Both leaves typed in after 08:45, he not known to be in. His check-in at
    # 09:00, pushed at 09:40 by a terminal that was offline, was late with the leave he had
    # when the alert fell (in by 08:45): the alert stands. Before, the excusal of both leaves
    # decided, and the push withdrew the alert.
    day = Attendance()
    _typed_in(day, order)
    assert [e.type for e in day.events] == ["alert.late_clock_in"]
    day.advance(100)
    out = day.feed(punch(PunchKind.CHECK_IN, 60, lag_min=40))
    assert [e.type for e in out] == ["attendance.punch"]
    assert out[0].data["late"] is True
    # In at 08:40, by 08:45, the excused grace's end by the first leave alone: withdrawn.
    day = Attendance()
    _typed_in(day, order)
    day.advance(100)
    out = day.feed(punch(PunchKind.CHECK_IN, 40, lag_min=60))
    assert [e.type for e in out] == ["attendance.punch", "alert.withdrawn"]
    assert (out[1].data["reason"], out[1].data["leave_id"]) == ("leave_on_record", "L1")
    assert out[1].data["excused_until"] == at(30).isoformat()
    # Live the same: in at 09:00 before the leaves are typed in, late by either.
    day = Attendance()
    day.punch(PunchKind.CHECK_IN, 58)
    _typed_in(day, order)
    assert [e.type for e in day.events] == ["alert.late_clock_in", "attendance.punch"]


def test_a_double_shift_clocked_in_for_the_first_is_clocked_in_for_the_second() -> None:
    first = Attendance()
    first.punch(PunchKind.CHECK_IN, 2)
    next_shift = AttendanceState.start(
        "g-001/jt-gate-north/20260302T200000Z",
        "g-001",
        "jt-gate-north",
        "wh-jiangtan-garden",
        T0 + timedelta(hours=12),
        T0 + timedelta(hours=24),
    )
    went_on = next_shift.continuing(first.state)
    assert went_on.checked_in_at == at(2) and went_on.next_deadline is None
    assert scheduled(went_on, at(12 * 60), POLICY).next_deadline is None
    # Clocked out before the end: the next shift asks its own check-in.
    first.punch(PunchKind.CHECK_OUT, 12 * 60 - 2)
    assert first.state.checked_out_at == at(12 * 60 - 2)
    restored = AttendanceState.from_json(json.loads(json.dumps(first.state.to_json())))
    assert restored == first.state
    assert next_shift.continuing(first.state) == next_shift
    # Never clocked in for the first: nothing to go on with.
    assert next_shift.continuing(Attendance().state) == next_shift
