"""The clock's work through the processor, on a real database and a manual clock: shifts start
from a cursor, deadlines fire from a priority queue, a tick costs what is due, a failed
transaction gives back what it popped, a shift change fires in slices, a reload reads only the
roster window.

The roster: the sample site (for its posts and policy) with ``n`` more guards, one GPS terminal
each, at the first post, shift ``i`` starting ``i`` seconds after 08:00 and lasting 12 hours.
Nobody sends a fix, so each is absent at shift start ``shift_start_grace_s`` (600 s) after his
start: ``alert.absent_at_shift_start`` at 08:10:00 + ``i`` s.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_mock import MockerFixture
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.orm import ORMExecuteState, Session

from gateway.clock import ManualClock
from gateway.db.models import DeviceRow, GuardRow, PostRow, PresenceStateRow, ShiftRow, SiteRow
from gateway.db.patrol_models import AttendanceStateRow
from gateway.outbox.tables import OutboxRow
from gateway.pipeline import presence_stage, stages
from gateway.pipeline import processor as processor_module
from gateway.pipeline.emitter import Emitter
from gateway.pipeline.processor import Processor
from gateway.rules import attendance as attendance_rules
from gateway.rules.events import ALERT_ABSENT_AT_SHIFT_START, RESTART_GRACE_S
from gateway.site import load_site_file
from tests.e2e.helpers import DAY_START, load_sample_site
from tests.integration.test_site_load_mid_shift import core_events as patrol_core_events
from tests.ledger.patrol_scenario import GATE, PATROLLER, patrol_site
from tests.ledger.patrol_scenario import at as patrol_at

GRACE = timedelta(seconds=600)


def guard(i: int) -> str:
    return f"x{i:04d}"


def build(engine: Engine, n: int, *, history_days: int = 0) -> None:
    """The sample site plus ``n`` guards on duty today (see the module docstring), and
    ``history_days`` past days of the same shifts with closed saved states."""
    load_sample_site(engine, DAY_START - timedelta(days=history_days + 1))
    with Session(engine) as session, session.begin():
        site_id = session.scalars(select(SiteRow.id)).one()
        guards = [
            {"id": guard(i), "site_id": site_id, "name": f"G{i}", "leader_ids": [], "contacts": {}}
            for i in range(n)
        ]
        session.execute(insert(GuardRow), guards)
        devices = [
            {"id": f"gps-{guard(i)}", "site_id": site_id, "kind": "gps", "guard_id": guard(i)}
            for i in range(n)
        ]
        session.execute(insert(DeviceRow), devices)
    add_days(engine, n, range(history_days, -1, -1))


def add_days(engine: Engine, n: int, days: Iterable[int]) -> None:
    """The ``n`` guards' shifts ``days`` days before today; past ones with closed states."""
    with Session(engine) as session, session.begin():
        site_id = session.scalars(select(SiteRow.id)).one()
        post_id = session.scalars(select(PostRow.id).order_by(PostRow.id)).first()
        for day in days:
            shifts = []
            for i in range(n):
                start = DAY_START - timedelta(days=day) + timedelta(seconds=i)
                shifts.append(
                    {
                        "id": f"s-{guard(i)}-{day}",
                        "site_id": site_id,
                        "guard_id": guard(i),
                        "post_id": post_id,
                        "starts_at": start,
                        "ends_at": start + timedelta(hours=12),
                    }
                )
            session.execute(insert(ShiftRow), shifts)
            if day > 0:
                states = [
                    {
                        "shift_id": f"s-{guard(i)}-{day}",
                        "guard_id": guard(i),
                        "state": {"closed": True},
                        "next_deadline": None,
                        "updated_at": DAY_START,
                    }
                    for i in range(n)
                ]
                session.execute(insert(PresenceStateRow), states)


def absent_alerts(engine: Engine) -> list[str]:
    """The guards alerted absent at shift start, in outbox order."""
    with Session(engine) as session:
        stmt = (
            select(OutboxRow.subject)
            .where(OutboxRow.type == ALERT_ABSENT_AT_SHIFT_START, OutboxRow.destination == "core")
            .order_by(OutboxRow.seq)
        )
        return [s for s in session.scalars(stmt) if s.startswith("x")]


def tick_until_done(processor: Processor, limit: int = 100) -> int:
    """Tick until nothing due waits; returns how many ticks that took."""
    for count in range(1, limit + 1):
        processor.tick()
        if not processor._chain.deadlines.pending():
            return count
    raise AssertionError("the clock's work never ended")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DAY_START - timedelta(minutes=1))


def test_an_idle_tick_examines_no_machine(engine: Engine, clock: ManualClock) -> None:
    build(engine, 40)
    processor = Processor(engine, clock)
    clock.set(DAY_START + timedelta(seconds=39))
    processor.tick()
    memory = processor.memory
    mine = [k for k in memory.presence if k.startswith("s-x")]
    assert len(mine) == 40
    examined, fired = memory.deadlines.examined, memory.deadlines.fired
    clock.advance(1)
    for _ in range(5):
        processor.tick()
        clock.advance(0.1)
    assert memory.deadlines.examined == examined
    assert memory.deadlines.fired == fired
    # Every machine waits in the queue for its absent-at-start deadline, nothing else.
    assert {memory.presence[k].next_deadline for k in mine} == {
        DAY_START + timedelta(seconds=i) + GRACE for i in range(40)
    }


def test_a_machine_starts_with_its_first_deadline_and_steps_first_when_it_falls(
    engine: Engine, clock: ManualClock, mocker: MockerFixture
) -> None:
    """At a shift change every machine starts at the same instant: none is stepped (and saved
    again) only to learn its first deadline; each is saved once, waiting for its absence."""
    build(engine, 30)
    processor = Processor(engine, clock)
    steps = mocker.spy(presence_stage, "step")
    clock.set(DAY_START + timedelta(seconds=29))
    processor.tick()
    clock.advance(1)
    processor.tick()

    def stepped() -> int:
        return sum(1 for c in steps.call_args_list if c.args[0].shift_id.startswith("s-x"))

    assert stepped() == 0
    with Session(engine) as session:
        saved = session.execute(
            select(PresenceStateRow.shift_id, PresenceStateRow.next_deadline).where(
                PresenceStateRow.shift_id.like("s-x%")
            )
        ).all()
    assert sorted(saved) == [
        (f"s-{guard(i)}-0", DAY_START + timedelta(seconds=i) + GRACE) for i in range(30)
    ]
    clock.set(DAY_START + GRACE + timedelta(seconds=29))
    processor.tick()
    assert stepped() == 30
    assert absent_alerts(engine) == [guard(i) for i in range(30)]


def test_a_deadline_fires_on_the_tick_at_or_after_it(engine: Engine, clock: ManualClock) -> None:
    build(engine, 10)
    processor = Processor(engine, clock)
    clock.set(DAY_START + timedelta(seconds=9))
    processor.tick()
    clock.set(DAY_START + GRACE + timedelta(seconds=3, microseconds=999_999))
    processor.tick()
    assert absent_alerts(engine) == [guard(i) for i in range(4)]
    clock.set(DAY_START + GRACE + timedelta(seconds=4))  # exactly guard 4's deadline
    processor.tick()
    assert absent_alerts(engine) == [guard(i) for i in range(5)]
    clock.set(DAY_START + GRACE + timedelta(seconds=60))
    processor.tick()
    assert absent_alerts(engine) == [guard(i) for i in range(10)]


def test_deadlines_due_during_a_restart_fire_late_after_its_grace(
    engine: Engine, clock: ManualClock
) -> None:
    build(engine, 5)
    processor = Processor(engine, clock)
    clock.set(DAY_START + timedelta(seconds=4))
    processor.tick()  # machines started and saved; then the gateway stops
    clock.set(DAY_START + timedelta(hours=1))
    restarted = Processor(engine, clock)
    restarted.tick()
    # Held back for the restart's grace (the broker's backlog may show them arrived)...
    assert absent_alerts(engine) == []
    clock.advance(RESTART_GRACE_S - 1)
    restarted.tick()
    assert absent_alerts(engine) == []
    clock.advance(1)  # ...and fired on the first tick after it, late
    restarted.tick()
    assert absent_alerts(engine) == [guard(i) for i in range(5)]
    with Session(engine) as session:
        bodies = session.scalars(
            select(OutboxRow.body).where(
                OutboxRow.type == ALERT_ABSENT_AT_SHIFT_START, OutboxRow.subject.like("x%")
            )
        ).all()
    assert all('"late": true' in body or '"late":true' in body for body in bodies)


def test_a_failed_transaction_gives_back_the_deadlines_it_popped(
    engine: Engine, clock: ManualClock, mocker: MockerFixture
) -> None:
    build(engine, 12)
    processor = Processor(engine, clock)
    clock.set(DAY_START + timedelta(seconds=11))
    processor.tick()
    queue = processor.memory.deadlines
    scheduled = len(queue)
    clock.set(DAY_START + GRACE + timedelta(seconds=30))
    real_emit = Emitter.emit
    calls = {"n": 0}

    def failing(self: Emitter, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 5:  # mid-way through the deadlines of the tick
            raise RuntimeError("injected: the database went away")
        return real_emit(self, *args, **kwargs)

    patch = mocker.patch.object(Emitter, "emit", autospec=True, side_effect=failing)
    with pytest.raises(RuntimeError, match="injected"):
        processor.tick()
    assert calls["n"] == 5
    assert absent_alerts(engine) == []
    assert len(queue) == scheduled  # every popped deadline is back
    mocker.stop(patch)
    processor.tick()
    assert absent_alerts(engine) == [guard(i) for i in range(12)]
    processor.tick()
    assert absent_alerts(engine) == [guard(i) for i in range(12)]  # none fired twice


def test_a_shift_change_fires_in_slices_earliest_first(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stages, "DEADLINES_PER_TRANSACTION", 7)
    monkeypatch.setattr(processor_module, "TICK_SLICES", 1)
    build(engine, 30)
    processor = Processor(engine, clock)
    clock.set(DAY_START + timedelta(seconds=29))
    # 30 shifts (and the sample's own) start 7 a transaction.
    assert tick_until_done(processor) >= 30 // 7
    assert len([k for k in processor.memory.presence if k.startswith("s-x")]) == 30
    clock.set(DAY_START + GRACE + timedelta(minutes=1))  # every deadline has fallen
    queue = processor.memory.deadlines
    slices = []
    alerts: list[str] = []
    while True:
        fired = queue.fired
        processor.tick()
        slices.append(queue.fired - fired)
        alerts = absent_alerts(engine)
        # Earliest first: always the first guards, in order, none twice.
        assert alerts == [guard(i) for i in range(len(alerts))]
        if not processor._chain.deadlines.pending():
            break
    assert alerts == [guard(i) for i in range(30)]
    assert max(slices) == 7
    assert len(slices) >= 5  # 30 absent alerts alone take five slices


def test_a_tick_runs_more_slices_while_deadlines_wait(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stages, "DEADLINES_PER_TRANSACTION", 4)
    build(engine, 30)
    processor = Processor(engine, clock)
    clock.set(DAY_START + timedelta(seconds=29))
    tick_until_done(processor)
    clock.set(DAY_START + GRACE + timedelta(minutes=1))
    fired = processor.memory.deadlines.fired
    processor.tick()  # TICK_SLICES (5) transactions of 4
    assert processor.memory.deadlines.fired - fired == 20
    assert processor._chain.deadlines.pending()


class RowCounter:
    """Counts the statements a session runs and the rows they return (selects only)."""

    def __init__(self) -> None:
        self.statements = 0
        self.rows = 0

    def __call__(self, state: ORMExecuteState) -> Any:
        if not state.is_select:
            return None
        frozen = state.invoke_statement().freeze()
        self.statements += 1
        self.rows += len(frozen().all())
        return frozen()


@pytest.fixture
def row_counter() -> Iterator[RowCounter]:
    counter = RowCounter()
    event.listen(Session, "do_orm_execute", counter)
    yield counter
    event.remove(Session, "do_orm_execute", counter)


def test_a_reload_reads_the_same_rows_with_a_week_or_a_year_of_history(
    engine: Engine, row_counter: RowCounter
) -> None:
    # A week fills the window (two days back, three for the roster's extension): a year more
    # must not cost one more row.
    build(engine, 20, history_days=7)
    clock = ManualClock(DAY_START + timedelta(minutes=1))
    processor = Processor(engine, clock)
    processor.tick()
    clock.advance(60)

    def reload() -> tuple[int, int]:
        row_counter.statements = row_counter.rows = 0
        processor.reload()
        return row_counter.statements, row_counter.rows

    a_week = reload()
    add_days(engine, 20, range(8, 366))  # 7,160 more shifts and closed states
    assert reload() == a_week
    assert a_week[1] > 0
    # The closed states of the two days before are in the window (it reaches two days back
    # from 08:02, and the shift two days ago ends at 20:00); today's 20 were saved by the tick;
    # the rest of the history is never read.
    mine = {k for k in processor.memory.stored if k.startswith("s-x")}
    assert mine == {f"s-{guard(i)}-{day}" for i in range(20) for day in (0, 1, 2)}


def test_memory_keeps_only_the_window(engine: Engine, clock: ManualClock) -> None:
    build(engine, 6, history_days=4)
    processor = Processor(engine, clock)
    memory = processor.memory
    clock.set(DAY_START + timedelta(seconds=5))
    processor.tick()
    memory.presence_since["s-x0000-4"] = DAY_START - timedelta(days=4)  # a shift long gone
    memory.presence_since["s-x0000-0"] = DAY_START
    processor.reload()
    window = {d.shift_id for d in memory.duties.by_start}
    assert set(memory.presence_since) == {"s-x0000-0"}
    assert set(memory.stored) <= window
    assert {k for k in memory.stored if k.startswith("s-x")} == {
        f"s-{guard(i)}-{day}" for i in range(6) for day in (0, 1, 2)
    }
    assert {k for k in memory.presence if k.startswith("s-x")} == {
        f"s-{guard(i)}-0" for i in range(6)
    }
    # Three days on, today's shifts have left the window: nothing of them is kept.
    clock.set(DAY_START + timedelta(days=3))
    processor.reload()
    assert {k for k in memory.stored if k.startswith("s-x")} == set()
    assert {k for k in memory.presence if k.startswith("s-x")} == set()
    assert memory.presence_since == {}
    assert len(memory.deadlines) == sum(
        1 for s in memory.presence.values() if s.next_deadline is not None
    )


def test_a_clock_in_machine_starts_with_its_deadline_and_steps_first_when_it_falls(
    engine: Engine, mocker: MockerFixture, tmp_path: Path
) -> None:
    """The same for the attendance machine of a site with a clock-in terminal."""
    load_site_file(patrol_site(tmp_path), engine, patrol_at(-60))
    clock = ManualClock(patrol_at(-1))
    processor = Processor(engine, clock)
    steps = mocker.spy(attendance_rules, "step")
    clock.set(patrol_at(0) + timedelta(seconds=1))
    processor.tick()
    clock.set(patrol_at(14))
    processor.tick()
    assert steps.call_count == 0
    with Session(engine) as session:
        saved = session.execute(
            select(AttendanceStateRow.guard_id, AttendanceStateRow.next_deadline)
        ).all()
    # Both guards of the site are expected at its terminal.
    assert sorted(saved) == [(GATE[0], patrol_at(15)), (PATROLLER[0], patrol_at(15))]
    clock.set(patrol_at(15))
    processor.tick()
    assert steps.call_count == 2
    late = [when for kind, when, _ in patrol_core_events(engine) if kind == "alert.late_clock_in"]
    assert late == [patrol_at(15), patrol_at(15)]
