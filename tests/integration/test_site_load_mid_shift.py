"""A site file loaded while shifts are under way takes effect at the load, never before it
(``gateway.site.shift_writes``), through the pipeline as ``guard-gateway run`` drives it: the
roster read again and adopted between batches, the clock ticking. SQLite and PostgreSQL.

The cases a leader meets: a guard moved to another post at 10:30 of his 08:00-20:00 shift, a
shift's end changed while it runs, and the same file loaded again. None may raise an alert
about the hours before the load, nor one from a duty the load ended."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import ShiftRow
from gateway.ledger.service import day_ledger
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.commands import ApproveLeave
from gateway.pipeline.duty_load import load_duties
from gateway.pipeline.processor import Processor
from gateway.site import load_site_file
from tests.e2e.helpers import DAY_START, PostPoints, fix_at, roster_site

GUARD = ("g-001", "jt-gate-north", "gps-a")
SITE = "wh-jiangtan-garden"


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def points(engine: Engine, post_id: str, when: datetime) -> PostPoints:
    """A point inside ``post_id``'s fence and one 300 m north, from the duty held there."""
    with Session(engine) as session:
        duty = next(d for d in load_duties(session, when).active(when) if d.post_id == post_id)
    centre = duty.fence.wgs84.centroid
    x, y = duty.fence.projection.forward(centre.x, centre.y)
    return PostPoints(duty.fence, (centre.x, centre.y), duty.fence.projection.inverse(x, y + 300))


def site_file(tmp_path: Path, name: str, *, post: str, end: str = "20:00") -> Path:
    """The one-guard roster site, g-001 at ``post`` 08:00-``end`` daily."""
    folder = tmp_path / name
    folder.mkdir()
    path = roster_site(folder, [GUARD])
    doc = yaml.safe_load(path.read_text("utf-8"))
    doc["sites"][0]["shifts"][0].update(post=post, end=end)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def core_bodies(engine: Engine) -> list[dict[str, Any]]:
    """Every event for the management core as sent (CloudEvents JSON), in order."""
    with Session(engine) as session:
        bodies = session.scalars(
            select(OutboxRow.body).where(OutboxRow.destination == "core").order_by(OutboxRow.seq)
        ).all()
    return [json.loads(body) for body in bodies]


def core_events(engine: Engine) -> list[tuple[str, datetime, str]]:
    """``(type, event time, shift id)`` of every event for the management core, in order."""
    with Session(engine) as session:
        rows = session.execute(
            select(OutboxRow.type, OutboxRow.event_time, OutboxRow.body)
            .where(OutboxRow.destination == "core")
            .order_by(OutboxRow.seq)
        ).all()
    out = []
    for kind, when, body in rows:
        data: dict[str, Any] = json.loads(body)
        shift = data.get("shift_id") or (data.get("data") or {}).get("shift_id")
        out.append((kind, when, str(shift)))
    return out


def shifts_of_today(engine: Engine) -> list[tuple[str, datetime, datetime, bool]]:
    with Session(engine) as session:
        rows = session.execute(
            select(ShiftRow.post_id, ShiftRow.starts_at, ShiftRow.ends_at, ShiftRow.cut_short)
            .where(ShiftRow.starts_at < at(24 * 60), ShiftRow.ends_at > at(0))
            .order_by(ShiftRow.starts_at)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


class Gateway:
    """The pipeline of ``guard-gateway run`` on a manual clock: a fix a minute, a tick after
    each, the roster read again and adopted after a site load (as the roster reader does)."""

    def __init__(self, engine: Engine, start: datetime) -> None:
        self.engine = engine
        self.clock = ManualClock(start)
        self.processor = Processor(engine, self.clock)

    def run(self, first: int, last: int, where: tuple[float, float]) -> None:
        for minute in range(first, last):
            self.clock.set(at(minute + 0.1))
            self.processor.process_fixes([fix_at(GUARD[2], at(minute), where)])
            self.processor.tick()

    def load(self, path: Path, minute: float) -> None:
        self.clock.set(at(minute))
        load_site_file(path, self.engine, self.clock.now())
        read = self.processor.read_roster()
        assert read is not None and self.processor.adopt_roster(read)


def on_post_until_half_past_ten(engine: Engine, tmp_path: Path) -> tuple[Gateway, PostPoints]:
    """g-001 rostered at the north gate 08:00-20:00, on post there from 08:00 to 10:30."""
    load_site_file(site_file(tmp_path, "gate", post="jt-gate-north"), engine, at(-60))
    gate = points(engine, "jt-gate-north", at(1))
    gateway = Gateway(engine, at(-1))
    gateway.run(0, 150, gate.inside)
    return gateway, gate


def on_post_with_a_leave_from_nine(engine: Engine, tmp_path: Path) -> tuple[Gateway, PostPoints]:
    """g-001 at the north gate (08:00-20:00), on post from 08:00 to 09:00, with a leave
    09:00-10:10 approved at 08:59."""
    load_site_file(site_file(tmp_path, "gate", post="jt-gate-north"), engine, at(-60))
    gate = points(engine, "jt-gate-north", at(1))
    gateway = Gateway(engine, at(-1))
    gateway.run(0, 60, gate.inside)
    gateway.processor.run_command(
        ApproveLeave("g-001", at(60), at(130), "jt-leader-a", approved_at=at(59))
    )
    return gateway, gate


def back_from_leave_then_moved(engine: Engine, tmp_path: Path) -> tuple[Gateway, PostPoints]:
    """g-001 at the north gate from 08:00, on leave 09:00-10:10 and back at 10:00 (he never
    cancels it), moved to the plaza by a site load at 10:30 and on post there at once; the
    plaza's points are returned."""
    gateway, gate = on_post_with_a_leave_from_nine(engine, tmp_path)
    gateway.run(60, 120, gate.outside)
    gateway.run(120, 150, gate.inside)
    gateway.load(site_file(tmp_path, "plaza", post="jt-plaza"), 150)
    return gateway, points(engine, "jt-plaza", at(151))


def test_a_guard_moved_mid_shift_is_expected_at_his_new_post_from_the_move_on(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, gate = on_post_until_half_past_ten(engine, tmp_path)

    gateway.load(site_file(tmp_path, "plaza", post="jt-plaza"), 150)
    plaza = points(engine, "jt-plaza", at(151))
    gateway.run(150, 155, gate.outside)  # walking over
    gateway.run(155, 200, plaza.inside)

    gate_shift = f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"
    plaza_shift = f"g-001/jt-plaza/{at(150):%Y%m%dT%H%M%SZ}"
    # No alert about the morning (the plaza's arrival grace runs from the move), and none
    # from the gate's machine after the move (its shift is a record now).
    assert core_events(engine) == [
        ("presence.arrived", at(0), gate_shift),
        ("presence.arrived", at(155), plaza_shift),
    ]
    assert shifts_of_today(engine) == [
        ("jt-gate-north", at(0), at(150), True),
        ("jt-plaza", at(150), at(12 * 60), False),
    ]
    # The day's ledger shows both parts: 2.5 h at the gate, the rest rostered at the plaza.
    ledger = day_ledger(engine, SITE, DAY_START.date(), at(200))
    [guard] = [g for g in ledger["guards"] if g["guard_id"] == GUARD[0]]
    assert [(s["post_id"], s["cut_short"]) for s in guard["shifts"]] == [
        ("jt-gate-north", True),
        ("jt-plaza", False),
    ]
    assert guard["scheduled_s"] == 12 * 3600


def test_a_shift_end_changed_while_it_runs_goes_on_to_the_new_end(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, gate = on_post_until_half_past_ten(engine, tmp_path)
    gateway.load(site_file(tmp_path, "longer", post="jt-gate-north", end="22:00"), 150)
    gateway.run(150, 12 * 60 + 30, gate.inside)
    gateway.run(12 * 60 + 30, 12 * 60 + 50, gate.outside)  # he leaves at 20:30
    shift = f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"
    # One shift, to its new end: the rules watch him past 20:00, so leaving at 20:30 is a
    # departure (before, the shift was cut at 10:30 and a second one began there).
    assert shifts_of_today(engine)[-1:] == [("jt-gate-north", at(0), at(14 * 60), False)]
    assert [(kind, when) for kind, when, _ in core_events(engine)] == [
        ("presence.arrived", at(0)),
        ("presence.departed", at(12 * 60 + 30)),
        ("alert.unreported_departure", at(12 * 60 + 30)),
        ("alert.overtime_departure", at(12 * 60 + 45)),
    ]
    state = gateway.processor.state(shift)
    assert state is not None and state.shift_end == at(14 * 60)


def test_a_shift_shortened_while_it_runs_ends_at_its_new_end(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, gate = on_post_until_half_past_ten(engine, tmp_path)
    gateway.load(site_file(tmp_path, "shorter", post="jt-gate-north", end="12:00"), 150)
    gateway.run(150, 4 * 60, gate.inside)
    gateway.run(4 * 60, 5 * 60, gate.outside)  # he goes home at 12:00
    # Off duty from 12:00: no departure, no silence, no early leave.
    assert [(kind, when) for kind, when, _ in core_events(engine)] == [("presence.arrived", at(0))]
    assert shifts_of_today(engine)[-1:] == [("jt-gate-north", at(0), at(4 * 60), False)]


def test_the_same_file_loaded_again_mid_shift_changes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, gate = on_post_until_half_past_ten(engine, tmp_path)
    before = shifts_of_today(engine)
    gateway.load(tmp_path / "gate" / "roster-site.yaml", 150)
    gateway.run(150, 200, gate.inside)
    assert shifts_of_today(engine) == before == [("jt-gate-north", at(0), at(12 * 60), False)]
    assert core_events(engine) == [
        ("presence.arrived", at(0), f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}")
    ]


def test_a_guard_whose_terminal_is_replaced_mid_shift_is_followed_on_the_new_one(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, gate = on_post_until_half_past_ten(engine, tmp_path)
    folder = tmp_path / "swapped"
    folder.mkdir()
    # His phone broke: the site file now gives him gps-b; gps-a lies in the guard house.
    gateway.load(roster_site(folder, [(GUARD[0], GUARD[1], "gps-b")]), 150)
    for minute in range(150, 200):
        gateway.clock.set(at(minute + 0.1))
        where = gate.inside if minute < 170 else gate.outside  # he walks off at 10:50
        gateway.processor.process_fixes(
            [fix_at("gps-b", at(minute), where), fix_at(GUARD[2], at(minute), gate.inside)]
        )
        gateway.processor.tick()
    shift = f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"
    # Before, the machine knew only gps-a: gps-b's fixes were ignored as a stranger's, the
    # guard was raised silent at 10:39 and his departure was never seen.
    assert [(kind, when) for kind, when, _ in core_events(engine)] == [
        ("presence.arrived", at(0)),
        ("presence.departed", at(170)),
        ("alert.unreported_departure", at(170)),
        ("alert.overtime_departure", at(185)),
    ]
    assert {s for _, _, s in core_events(engine)} == {shift}


def test_a_gateway_restarted_after_an_end_changed_follows_the_new_end(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, _gate = on_post_until_half_past_ten(engine, tmp_path)
    # Loaded while the gateway was stopped: it never read that roster.
    load_site_file(
        site_file(tmp_path, "longer", post="jt-gate-north", end="22:00"), engine, at(150)
    )
    restarted = Processor(engine, gateway.clock)
    restarted.tick()
    state = restarted.state(f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}")
    assert state is not None and state.shift_end == at(14 * 60)
