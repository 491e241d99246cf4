"""A shift a site load cuts short (``ShiftRow.cut_short``: the guard moved to another post at
10:30) ends its machines as a relief would (``ShiftEnded``), through the pipeline as ``guard-gateway
run`` drives it: what is owed for the part that happened is still decided, and a patrol round
under way is completed with what it has. SQLite and PostgreSQL.

A guard out on a leave when the load ends his duty owes its cancellation (销假) from the
leave's end, as at the shift's scheduled end (``cancellations.owed_past_the_end``), unless the
leave runs into the shift the load gave him, whose arrival asks it: once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_mock import MockerFixture
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway.db.models import LeaveRow, PresenceStateRow
from gateway.pipeline.commands import CancelLeave
from gateway.pipeline.emitter import Emitter
from gateway.pipeline.processor import Processor
from gateway.records import PunchKind
from gateway.site import load_site_file
from tests.e2e.helpers import PostPoints, fix_at
from tests.e2e.helpers import core_events as guard_events
from tests.integration.test_site_load_mid_shift import (
    GUARD,
    Gateway,
    at,
    back_from_leave_then_moved,
    core_events,
    on_post_until_half_past_ten,
    on_post_with_a_leave_from_nine,
    points,
    site_file,
)
from tests.ledger.patrol_scenario import (
    GATE,
    PATROLLER,
    drive,
    patrol_data,
    patrol_site,
    punch_at,
)

GATE_SHIFT = f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"
PLAZA_SHIFT = f"g-001/jt-plaza/{at(150):%Y%m%dT%H%M%SZ}"


def test_a_leave_used_before_the_move_must_still_be_cancelled_within_the_hour(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, plaza = back_from_leave_then_moved(engine, tmp_path)
    gateway.run(150, 200, plaza.inside)
    # The hour to cancel ran out at 11:00: the gate shift's machine, ended at the move, still
    # decided it (before, the move dropped the machine and the alert was never raised).
    assert core_events(engine) == [
        ("presence.arrived", at(0), GATE_SHIFT),
        ("presence.departed", at(60), GATE_SHIFT),
        ("presence.returned", at(120), GATE_SHIFT),
        ("presence.arrived", at(150), PLAZA_SHIFT),
        ("alert.leave_not_cancelled", at(180), GATE_SHIFT),
    ]


def _moved(tmp_path: Path, guard: str) -> Path:
    """The patrol site with ``guard`` moved from his post to the plaza."""
    path = patrol_site(tmp_path / "first")
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    for shift in doc["sites"][0]["shifts"]:
        if shift["guard"] == guard:
            shift["post"] = "jt-plaza"
    moved = tmp_path / "moved.yaml"
    moved.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return moved


def test_a_patrol_round_under_way_at_the_move_is_completed_with_what_it_has(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "first").mkdir()
    load_site_file(patrol_site(tmp_path / "first"), engine, at(-60))
    # g-004 moved to the plaza at 09:37, in the second round, one checkpoint in.
    scans = {31: "cp-east", 36: "cp-fountain", 41: "cp-west", 91: "cp-east"}
    drive(engine, {97: _moved(tmp_path, PATROLLER[0])}, scans)
    completed = [
        (when, data) for kind, when, data in patrol_data(engine) if kind == "patrol.round_completed"
    ]
    assert [when for when, _ in completed] == [at(41), at(97) + timedelta(seconds=6)]
    assert completed[1][1]["ended_early"] is True
    # Nothing missed: the fountain's and the west's windows had not closed at the move.
    assert "alert.checkpoint_missed" not in [kind for kind, _, _ in core_events(engine)]


def test_a_relief_lost_with_a_failed_transaction_is_made_on_the_next(
    engine: Engine, tmp_path: Path, mocker: MockerFixture
) -> None:
    gateway, _gate = on_post_until_half_past_ten(engine, tmp_path)
    gateway.load(site_file(tmp_path, "plaza", post="jt-plaza"), 150)
    gateway.clock.set(at(150.1))
    # The database fails at the end of the tick that relieves the gate shift's machine.
    flush = mocker.patch.object(
        Emitter, "flush", autospec=True, side_effect=[OperationalError("x", {}, Exception())]
    )
    with pytest.raises(OperationalError):
        gateway.processor.tick()
    state = gateway.processor.state(GATE_SHIFT)
    assert state is not None and not state.ended  # taken back with the transaction
    mocker.stop(flush)
    gateway.processor.tick()
    state = gateway.processor.state(GATE_SHIFT)
    assert state is None or state.ended
    with Session(engine) as session:
        saved = session.get(PresenceStateRow, GATE_SHIFT)
        assert saved is not None and saved.state["ended"] is True


def _out_on_leave_at_half_past_nine(engine: Engine, tmp_path: Path) -> tuple[Gateway, PostPoints]:
    """g-001 at the north gate (08:00-20:00) from 08:00, out from 09:00 on a leave 09:00-10:10
    approved at 08:59, to 09:30."""
    gateway, gate = on_post_with_a_leave_from_nine(engine, tmp_path)
    gateway.run(60, 90, gate.outside)
    return gateway, gate


def _taken_off_duty_while_out(engine: Engine, tmp_path: Path) -> tuple[Gateway, PostPoints]:
    """Out on the leave from 09:00; the leader ends his day at 09:30 (his shift now ends at
    09:00 in the file): the leave runs past his duty, and he is out to 10:10, off duty."""
    gateway, gate = _out_on_leave_at_half_past_nine(engine, tmp_path)
    gateway.load(site_file(tmp_path, "home", post="jt-gate-north", end="09:00"), 90)
    gateway.run(90, 130, gate.outside)
    return gateway, gate


def test_taken_off_duty_while_out_on_a_leave_he_owes_its_cancellation_from_its_end(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, gate = _taken_off_duty_while_out(engine, tmp_path)
    gateway.run(130, 200, gate.inside)  # back at 10:10, unwatched, and never cancels
    assert core_events(engine) == [
        ("presence.arrived", at(0), GATE_SHIFT),
        ("presence.departed", at(60), GATE_SHIFT),
        ("alert.leave_not_cancelled", at(190), GATE_SHIFT),
    ]
    [alert] = guard_events(engine, "alert.leave_not_cancelled", "g-001")
    assert alert["returned_at"] == at(130).isoformat() and alert["off_duty"] is True
    state = gateway.processor.state(GATE_SHIFT)
    assert state is None or state.relieved_at == at(90)


def test_a_leave_cancelled_after_the_relief_settles_the_shift_and_closes_its_machine(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, gate = _taken_off_duty_while_out(engine, tmp_path)
    gateway.run(130, 140, gate.inside)
    # Back at 10:10 (the leave's end), off duty; he cancels it at 10:20, within the hour: the
    # last decision the shift owed is settled, by him, not by a deadline.
    with Session(engine) as session:
        [leave_id] = session.scalars(select(LeaveRow.id).where(LeaveRow.guard_id == "g-001"))
    gateway.clock.set(at(140.5))
    gateway.processor.run_command(CancelLeave(leave_id, at(140)))
    gateway.run(141, 260, gate.inside)  # past the hour: nothing more
    assert core_events(engine) == [
        ("presence.arrived", at(0), GATE_SHIFT),
        ("presence.departed", at(60), GATE_SHIFT),
        ("leave.cancelled", at(140), GATE_SHIFT),
    ]
    # The machine closed and left memory (it stayed, ended and waiting for nothing, before);
    # its saved state is the shift's record.
    assert gateway.processor.state(GATE_SHIFT) is None
    with Session(engine) as session:
        saved = session.get(PresenceStateRow, GATE_SHIFT)
        assert saved is not None and saved.state["closed"] is True


def _stored_and_sent(gateway: Gateway, gate: PostPoints, first: int, last: int, sent: int) -> None:
    """What g-001's terminal stored every 30 s from minute ``first`` to ``last`` (out from
    09:00 to 09:20, on post otherwise), sent at minute ``sent`` in one message."""
    fixes = []
    for half in range(first * 2, last * 2):
        taken = at(half / 2)
        where = gate.outside if 60 <= half / 2 < 80 else gate.inside
        lag_s = (at(sent) - taken).total_seconds()
        fixes.append(fix_at(GUARD[2], taken, where, received_after_s=lag_s))
    gateway.clock.set(at(sent))
    gateway.processor.process_fixes(fixes)


def _tick_each_minute(gateway: Gateway, first: int, last: int) -> None:
    for minute in range(first, last):
        gateway.clock.set(at(minute + 0.1))
        gateway.processor.tick()


@pytest.mark.parametrize("restarted", [False, True], ids=["running", "restarted_while_waiting"])
def test_relieved_while_his_terminal_is_in_a_blind_area_the_outing_it_shows_is_judged(
    engine: Engine, tmp_path: Path, restarted: bool
) -> None:
    # On post from 08:00, his terminal out of network from 08:55; out from 09:00 to 09:20, no
    # report; the leader ends his day at 09:35 (a load); the terminal sends what it stored at
    # 09:40, within the end's 10-minute wait. Before, the relief ended the machine at once and
    # the outing its positions showed reached an ended shift: nothing was raised. The wait is
    # in the saved state: a gateway restarted meanwhile (from the database) waits the same.
    load_site_file(site_file(tmp_path, "gate", post="jt-gate-north"), engine, at(-60))
    gate = points(engine, "jt-gate-north", at(1))
    gateway = Gateway(engine, at(-1))
    gateway.run(0, 55, gate.inside)
    _tick_each_minute(gateway, 55, 95)
    gateway.load(site_file(tmp_path, "home", post="jt-gate-north", end="09:00"), 95)
    _tick_each_minute(gateway, 95, 98)
    if restarted:
        gateway.processor = Processor(engine, gateway.clock)
    _tick_each_minute(gateway, 98, 100)
    state = gateway.processor.state(GATE_SHIFT)
    assert state is not None and state.relieved_at == at(95) and not state.ended  # waiting
    _stored_and_sent(gateway, gate, 55, 100, sent=100)
    _tick_each_minute(gateway, 100, 200)
    raised = [(kind, when) for kind, when, shift in core_events(engine) if shift == GATE_SHIFT]
    assert [event for event in raised if "departure" in event[0] or "parted" in event[0]] == [
        ("presence.departed", at(60)),
        ("alert.unreported_departure", at(60)),
        ("alert.overtime_departure", at(75)),
    ]
    assert ("presence.returned", at(80)) in raised
    [unreported] = guard_events(engine, "alert.unreported_departure", "g-001")
    assert unreported["backfilled"] is True
    assert "alert.left_early" not in [kind for kind, _ in raised]  # a relief, not leaving early
    assert gateway.processor.state(GATE_SHIFT) is None  # closed: nothing more is owed
    with Session(engine) as session:
        saved = session.get(PresenceStateRow, GATE_SHIFT)
        assert saved is not None and saved.state["closed"] is True
        assert saved.state["relieved_at"] == at(95).isoformat()


def test_moved_while_out_on_a_leave_his_new_posts_arrival_asks_its_cancellation_once(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, _gate = _out_on_leave_at_half_past_nine(engine, tmp_path)
    # Moved to the plaza at 09:30, while out: the leave runs into his new shift there, whose
    # arrival (10:00, inside the leave) asks the cancellation; the gate shift asks nothing.
    gateway.load(site_file(tmp_path, "plaza", post="jt-plaza"), 90)
    plaza = points(engine, "jt-plaza", at(91))
    gateway.run(90, 120, plaza.outside)
    gateway.run(120, 200, plaza.inside)
    plaza_shift = f"g-001/jt-plaza/{at(90):%Y%m%dT%H%M%SZ}"
    owed = [(when, shift) for kind, when, shift in core_events(engine) if "cancel" in kind]
    assert owed == [(at(180), plaza_shift)]


def test_a_punch_pushed_after_the_relief_is_reported_and_raises_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    # g-001 clocks in at the gate at 08:00 and is moved to the plaza at 09:00 (the gate
    # shift's machines close). At 09:10 the gate's terminal, offline since 08:40, pushes his
    # break-out of 08:50. Before, the punch started a new clock-in machine for the closed
    # shift, which raised him late at 08:15.
    (tmp_path / "first").mkdir()
    load_site_file(patrol_site(tmp_path / "first"), engine, at(-60))
    pushed = replace(punch_at(50, PunchKind.BREAK_OUT), received_at=at(70))
    drive(engine, {60: _moved(tmp_path, GATE[0])}, {}, {0: punch_at(0), 70: pushed})
    # His terminal's one fix inside at 08:00 waits for its next; the check-in punched then
    # places him at once, so the arrival follows the punch.
    assert [(kind, when) for kind, when, shift in core_events(engine) if shift == GATE_SHIFT] == [
        ("attendance.punch", at(0)),
        ("presence.arrived", at(0)),
        ("attendance.punch", at(50)),
    ]
