"""A leave approved before an absence or silence alert fell, but typed in after it, withdraws
the alert it would have prevented (``gateway.rules.excusals``); one approved after the alert
leaves it standing, and so does one under which the guard was away past its end anyway. A
cancellation typed in after the not-cancelled alert, dated within the hour, withdraws it.

Offsets are seconds from the shift start; the default limits: absent 600 s after the time he
was expected, silent 600 s after the terminal was last heard."""

from __future__ import annotations

from gateway.rules import LeaveCancelled, PresenceState
from gateway.rules.events import ALERT_ABSENT_AT_SHIFT_START, event_key
from gateway.rules.state import PresenceState as _State

from .scenario import T0, Scenario, Script, at, cancel, inside, leave, outside, restore, secs, track


def _play(script: Script, until_s: float) -> Scenario:
    scenario = Scenario().run(script)
    scenario.advance(until_s)
    return scenario


def _withdrawn(scenario: Scenario) -> list[tuple[str, float]]:
    return [
        (str(e.data["withdrawn_type"]), (e.time - T0).total_seconds())
        for e in scenario.only("alert.withdrawn")
    ]


def test_a_leave_over_the_start_entered_after_the_alerts_withdraws_them() -> None:
    # On leave 0-3000, approved an hour before the shift, typed in at 1800; on post at 2900.
    scenario = _play(
        [(1800, leave("L1", 0, 3000, approved_s=-3600)), *track(2900, 3200, inside)], 3200
    )
    assert scenario.pairs(skip=("presence.arrived",)) == [
        ("alert.absent_at_shift_start", 600.0),
        ("alert.device_silent", 600.0),
        ("alert.withdrawn", 1800.0),
        ("alert.withdrawn", 1800.0),
    ]
    absent, silent = scenario.events[0], scenario.events[1]
    first, second = scenario.only("alert.withdrawn")
    assert first.withdraws == (absent.alert_key,) and second.withdraws == (silent.alert_key,)
    assert first.data["reason"] == second.data["reason"] == "leave_on_record"
    assert first.data["leave_id"] == "L1" and first.data["approved_at"] == at(-3600).isoformat()
    # Neither is raised again: he came on post within the grace after the leave.
    [arrived] = scenario.only("presence.arrived")
    assert arrived.resolves == ()
    assert scenario.only("presence.device_resumed") == []


def test_still_away_when_the_leave_is_entered_he_is_raised_again_at_its_end() -> None:
    # Leave 0-1200 typed in at 1500: absent and silent again at 1800 (the leave's end and the
    # grace), under keys of their own; his arrival at 2400 resolves the new ones.
    scenario = _play(
        [(1500, leave("L1", 0, 1200, approved_s=-3600)), *track(2400, 2700, inside)], 2700
    )
    assert scenario.pairs() == [
        ("alert.absent_at_shift_start", 600.0),
        ("alert.device_silent", 600.0),
        ("alert.withdrawn", 1500.0),
        ("alert.withdrawn", 1500.0),
        ("alert.absent_at_shift_start", 1800.0),
        ("alert.device_silent", 1800.0),
        ("presence.device_resumed", 2400.0),
    ]
    first_absent, again = scenario.only("alert.absent_at_shift_start")
    assert first_absent.alert_key != again.alert_key
    assert first_absent.alert_key == event_key(
        "shift-1", ALERT_ABSENT_AT_SHIFT_START, T0.isoformat()
    )
    [arrived] = scenario.only("presence.arrived")
    assert arrived.resolves == (again.alert_key,)
    first_silent, silent_again = scenario.only("alert.device_silent")
    assert first_silent.alert_key != silent_again.alert_key
    assert silent_again.data["silent_since"] == at(1200).isoformat()
    [resumed] = scenario.only("presence.device_resumed")
    assert resumed.resolves == (silent_again.alert_key,)


def test_a_leave_approved_after_the_alert_fell_withdraws_nothing() -> None:
    # Approved (and typed in) at 900, after the 600 alerts: they were right when raised.
    scenario = _play([(900, leave("L1", 0, 3000)), *track(2900, 3200, inside)], 3200)
    assert _withdrawn(scenario) == []
    assert [t for t, _ in scenario.pairs()] == [
        "alert.absent_at_shift_start",
        "alert.device_silent",
        "presence.device_resumed",
    ]


def test_away_past_the_leave_and_its_grace_the_alerts_stand() -> None:
    # Leave 0-1200 (grace to 1800) typed in at 3000, after he came on post at 2400: absent and
    # silent after the leave too. The alerts stand, resolved by his arrival as before.
    scenario = _play(
        [*track(2400, 2900, inside), (3000, leave("L1", 0, 1200, approved_s=-3600))], 3000
    )
    assert _withdrawn(scenario) == []
    # Typed in at 2000 while he is still away: past the grace, they stand too (no second alert).
    scenario = _play(
        [(2000, leave("L1", 0, 1200, approved_s=-3600)), *track(2400, 2700, inside)], 2700
    )
    assert _withdrawn(scenario) == []
    assert len(scenario.only("alert.absent_at_shift_start")) == 1


def test_a_leave_over_the_whole_shift_entered_after_it_withdraws_both() -> None:
    # A 2-hour shift he had leave for, typed in the next morning: no alert was owed at all.
    scenario = Scenario(
        state=PresenceState.start("shift-1", "guard-1", "post-1", "site-1", ["gps-7"], T0, at(7200))
    )
    scenario.run([(30000, leave("L1", -600, 7800, approved_s=-7200))])
    assert scenario.state.closed
    assert _withdrawn(scenario) == [
        ("alert.absent_at_shift_start", 30000.0),
        ("alert.device_silent", 30000.0),
    ]


def test_a_silence_during_a_leave_in_the_shift_is_withdrawn_after_the_terminal_resumed() -> None:
    # On post, terminal off from 1800 (silent at 2400); leave 1800-5400 approved at 1500, typed
    # in at 6000 after he was back and heard at 5000: the silence fell inside his leave.
    scenario = _play(
        [
            *track(-300, 1800, inside),
            *track(5000, 5600, inside),
            (6000, leave("L1", 1800, 5400, approved_s=1500)),
        ],
        6000,
    )
    assert _withdrawn(scenario) == [("alert.device_silent", 6000.0)]
    [silent] = scenario.only("alert.device_silent")
    [withdrawn] = scenario.only("alert.withdrawn")
    assert withdrawn.withdraws == (silent.alert_key,)
    assert withdrawn.data["silent_since"] == at(1800).isoformat()


def test_what_a_withdrawal_needs_survives_a_restart() -> None:
    scenario = _play([], 900)
    restored = restore(scenario.state)
    assert isinstance(restored, _State)
    assert restored.absent_raised_at == at(600)
    assert [(s.since, s.raised_at) for s in restored.silences] == [(T0, at(600))]
    scenario.state = restored
    scenario.run([(1000, leave("L1", 0, 3000, approved_s=-60))])
    assert [t for t, _ in _withdrawn(scenario)] == [
        "alert.absent_at_shift_start",
        "alert.device_silent",
    ]


def _back_from_leave() -> Scenario:
    """On post, out 0-1200 on a leave approved before, back at 1200; not cancelled by 4800."""
    return _play(
        [
            *track(-300, -30, inside),
            (-60, leave("L1", 0, 1800)),
            *track(0, 1170, outside),
            *track(1200, 6000, inside, every_s=120),
        ],
        6000,
    )


def test_a_cancellation_typed_in_late_but_made_within_the_hour_withdraws_the_alert() -> None:
    scenario = _back_from_leave()
    scenario.feed(LeaveCancelled("L1", at(1260)))  # typed in at 6000, made at 1260
    [alert] = scenario.only("alert.leave_not_cancelled")
    [cancelled] = scenario.only("leave.cancelled")
    [withdrawn] = scenario.only("alert.withdrawn")
    assert (cancelled.data["in_time"], cancelled.resolves) == (True, ())
    assert withdrawn.withdraws == (alert.alert_key,) and withdrawn.time == at(6000)
    assert withdrawn.data["reason"] == "cancelled_in_time"
    assert withdrawn.data["cancelled_at"] == at(1260).isoformat()


def test_a_cancellation_made_after_the_hour_resolves_the_alert() -> None:
    scenario = _back_from_leave()
    scenario.feed(LeaveCancelled("L1", at(5000)))
    [alert] = scenario.only("alert.leave_not_cancelled")
    [cancelled] = scenario.only("leave.cancelled")
    assert (cancelled.data["in_time"], cancelled.resolves) == (False, (alert.alert_key,))
    assert scenario.only("alert.withdrawn") == []


def _extended(typed_s: float, back_s: float, *, approved_s: float = 3000) -> Scenario:
    """On post, out from 0 on leave L1 (0-3600) approved before; L2 (3600-7200), approved at
    ``approved_s``, typed in at ``typed_s``; back on post at ``back_s``."""
    return _play(
        [
            *track(-300, -30, inside),
            (-60, leave("L1", 0, 3600)),
            *track(0, back_s - 60, outside, every_s=60),
            (typed_s, leave("L2", 3600, 7200, approved_s=approved_s)),
            *track(back_s, back_s + 600, inside, every_s=60),
        ],
        back_s + 600,
    )


def test_an_extension_on_record_before_the_leave_ends_is_no_overrun() -> None:
    scenario = _extended(3000, 6000)
    assert scenario.pairs() == [("presence.departed", 0.0), ("presence.returned", 6000.0)]
    [returned] = scenario.only("presence.returned")
    assert returned.data["leave_id"] == "L2"
    assert [p.leave_id for p in scenario.state.pending_cancels] == ["L2"]


def test_an_extension_typed_in_after_the_overrun_withdraws_it() -> None:
    # Back at 6000, within the extension; L2 typed in at 6300: the 3600 overrun was wrong, and
    # the cancellation owed since his return is L2's.
    scenario = _extended(6300, 6000)
    assert scenario.pairs() == [
        ("presence.departed", 0.0),
        ("alert.leave_overrun", 3600.0),
        ("presence.returned", 6000.0),
        ("alert.withdrawn", 6300.0),
    ]
    [overrun] = scenario.only("alert.leave_overrun")
    [withdrawn] = scenario.only("alert.withdrawn")
    assert withdrawn.withdraws == (overrun.alert_key,)
    assert (withdrawn.data["reason"], withdrawn.data["leave_id"]) == ("leave_on_record", "L2")
    assert [p.leave_id for p in scenario.state.pending_cancels] == ["L2"]


def test_still_out_past_the_extension_he_overruns_it_under_a_new_key() -> None:
    # L2 typed in at 5000 with him still out; back only at 8000: overrun again at 7200.
    scenario = _extended(5000, 8000)
    assert scenario.pairs() == [
        ("presence.departed", 0.0),
        ("alert.leave_overrun", 3600.0),
        ("alert.withdrawn", 5000.0),
        ("alert.leave_overrun", 7200.0),
        ("presence.returned", 8000.0),
    ]
    first, again = scenario.only("alert.leave_overrun")
    assert first.alert_key != again.alert_key and again.data["leave_id"] == "L2"
    [returned] = scenario.only("presence.returned")
    assert returned.resolves == (again.alert_key,)


def test_a_leave_approved_after_the_first_ran_out_is_no_extension_of_it() -> None:
    scenario = _extended(5000, 6000, approved_s=4000)
    assert [t for t, _ in scenario.pairs()] == [
        "presence.departed",
        "alert.leave_overrun",
        "presence.returned",
    ]


def _owed_after(scenario: Scenario, cancelled: str) -> tuple[list[object], list[object]]:
    """Cancel leave ``cancelled`` a minute after the scenario's end and play on two hours:
    (leave_id, used_leave_id, in_time) of the cancellation, the not-cancelled alerts' leaves."""
    end = secs(scenario.clock.now())
    scenario.run([(end + 60, cancel(cancelled))])
    scenario.advance(end + 7200)
    return (
        [
            (e.data["leave_id"], e.data["used_leave_id"], e.data["in_time"])
            for e in scenario.only("leave.cancelled")
        ],
        [e.data["leave_id"] for e in scenario.only("alert.leave_not_cancelled")],
    )


def test_cancelling_either_leave_of_an_extension_settles_what_it_is_owed() -> None:
    # Back at 6000 under the extension L2; the leader cancels L1, the application he remembers.
    assert _owed_after(_extended(3000, 6000), "L1") == ([("L1", "L2", True)], [])
    # Back at 3000, before L1 ended; he cancels the extension L2.
    assert _owed_after(_extended(2000, 3000), "L2") == ([("L2", "L1", True)], [])
    # L2 approved after L1 ran out is no extension: cancelling it settles nothing of L1's.
    assert _owed_after(_extended(5000, 6000, approved_s=4000), "L2") == ([], ["L1"])
