"""``due_sooner``: whether a site's new limits bring a machine's next deadline sooner than the
one it holds (it last stepped under the old limits), for the presence and attendance rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from gateway.policy import SitePolicy
from gateway.rules import PresenceState, Tick, step
from gateway.rules import attendance as attendance_rules
from gateway.rules.patrol_policy import PatrolPolicy
from gateway.rules.presence import due_sooner

from .scenario import DEVICE, T0, Scenario, at, inside, track
from .test_attendance_rules import Attendance


def _on_post() -> PresenceState:
    """On post since -300 s, heard until 60 s into the shift; stepped under the default
    limits."""
    return Scenario().run(track(-300, 60, inside)).state


def test_a_shorter_silence_limit_brings_the_deadline_sooner() -> None:
    state = _on_post()
    assert state.next_deadline is not None
    assert not due_sooner(state, SitePolicy())
    assert due_sooner(state, SitePolicy(device_silent_s=120))
    assert not due_sooner(state, SitePolicy(device_silent_s=3600))


def test_a_tick_under_the_new_limit_sets_and_fires_its_deadline() -> None:
    shorter = SitePolicy(device_silent_s=120)
    state = _on_post()
    last_heard = state.last_received_at
    assert last_heard is not None and last_heard > T0  # the silence counts from it
    ticked, events = step(state, Tick(), last_heard + timedelta(seconds=60), shorter)
    assert events == [] and ticked.next_deadline == last_heard + timedelta(seconds=120)
    assert not due_sooner(ticked, shorter)
    _, fired = step(ticked, Tick(), last_heard + timedelta(seconds=121), shorter)
    assert [(e.type, e.time) for e in fired] == [
        ("alert.device_silent", last_heard + timedelta(seconds=120))
    ]


def test_a_deadline_the_new_limit_puts_in_the_past_fires_neither_late_nor_backfilled() -> None:
    # The load comes five minutes after his terminal's last fix, with a 2-minute silence
    # limit: the alert falls at once, dated 2 minutes after that fix. The gateway did not stall
    # and no old data showed it: before, it was flagged late ("网关恢复后补报").
    shorter = SitePolicy(device_silent_s=120)
    state = _on_post()
    last_heard = state.last_received_at
    assert last_heard is not None and due_sooner(state, shorter)
    _, fired = step(state, Tick(), last_heard + timedelta(seconds=300), shorter)
    [silent] = fired
    assert (silent.type, silent.time) == (
        "alert.device_silent",
        last_heard + timedelta(seconds=120),
    )
    assert (silent.data["late"], silent.data["backfilled"]) == (False, False)


def test_a_state_not_started_or_closed_is_never_sooner() -> None:
    fresh = PresenceState.start("shift-1", "guard-1", "post-1", "site-1", [DEVICE], T0, at(3600))
    # Held at its start until the shift begins: every limit counts from there.
    assert not due_sooner(fresh, SitePolicy(shift_start_grace_s=1, device_silent_s=1))
    assert not due_sooner(replace(_on_post(), closed=True), SitePolicy(device_silent_s=1))


def test_a_shorter_clock_in_grace_brings_the_attendance_deadline_sooner() -> None:
    policy = PatrolPolicy()
    stepped, _ = attendance_rules.step(Attendance().state, Tick(), T0, policy)
    assert stepped.next_deadline == T0 + timedelta(minutes=15)
    assert not attendance_rules.due_sooner(stepped, policy)
    assert attendance_rules.due_sooner(stepped, PatrolPolicy(clock_in_grace_s=180))
    assert not attendance_rules.due_sooner(stepped, PatrolPolicy(clock_in_grace_s=3600))
    checked = replace(stepped, checked_in_at=T0, next_deadline=None)
    assert not attendance_rules.due_sooner(checked, PatrolPolicy(clock_in_grace_s=180))
