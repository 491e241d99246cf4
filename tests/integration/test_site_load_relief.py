"""A shift a site load cuts short (``ShiftRow.cut_short``: the guard moved to another post at
10:30) ends its machines as a relief would (``ShiftEnded``), through the pipeline as ``guard-gateway
run`` drives it: what is owed for the part that happened is still decided, and a patrol round
under way is completed with what it has. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_mock import MockerFixture
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway.db.models import PresenceStateRow
from gateway.pipeline.emitter import Emitter
from gateway.site import load_site_file
from tests.integration.test_site_load_mid_shift import (
    at,
    back_from_leave_then_moved,
    core_events,
    on_post_until_half_past_ten,
    site_file,
)
from tests.ledger.patrol_scenario import PATROLLER, drive, patrol_data, patrol_site

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


def _patroller_moved(tmp_path: Path) -> Path:
    """The patrol site with g-004 moved from the patrol post to the plaza."""
    path = patrol_site(tmp_path / "first")
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    for shift in doc["sites"][0]["shifts"]:
        if shift["guard"] == PATROLLER[0]:
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
    drive(engine, {97: _patroller_moved(tmp_path)}, scans)
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
