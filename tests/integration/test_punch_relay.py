"""Punches relayed to the process holding their guard (``gateway.pipeline.relay``), with the
processor on a real database and a commit that fails: a punch is applied once, by a process
holding the guard, whether the first attempt commits or not."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pytest_mock import MockerFixture
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.cluster.tables import RelayedPunchRow
from gateway.db.patrol_models import PunchRow
from gateway.pipeline import relay
from gateway.pipeline.processor import Processor
from gateway.records import Punch, PunchKind
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, outbox_rows
from tests.e2e.test_patrol_end_to_end import PINS, field_site
from tests.fixtures.databases import CommitFault

START = DAY_START


def punch_of(guard: str, minutes: float) -> Punch:
    at = START + timedelta(minutes=minutes)
    return Punch("zk-gate", PINS[guard], at, at, PunchKind.CHECK_IN, source_format="zkteco_push")


def waiting(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(RelayedPunchRow)) or 0)


def receiver_of_g102_punch(engine: Engine, tmp_path: Path) -> tuple[Processor, ManualClock]:
    """The field site stored, and a process not holding g-102 (his rules run elsewhere) that
    received his punch of 08:01 at its terminal: it stored the punch and relayed it."""
    clock = ManualClock(START + timedelta(minutes=2))
    load_site_file(field_site(tmp_path, ["g-101", "g-102"], {}), engine, START)
    receiver = Processor(engine, clock)
    receiver.set_scope(lambda guard: guard != "g-102")
    receiver.run_command(lambda session, p: p.store_punches(session, [punch_of("g-102", 1)]))
    return receiver, clock


def test_a_relayed_punch_survives_a_failed_pass_and_is_applied_once(
    engine: Engine, tmp_path: Path, mocker: MockerFixture
) -> None:
    receiver, clock = receiver_of_g102_punch(engine, tmp_path)
    receiver.run_command(lambda session, p: p.store_punches(session, [punch_of("g-101", 1)]))
    assert receiver.counters.snapshot()["punches.relayed"] == 1
    assert waiting(engine) == 1
    assert [r.subject for r in outbox_rows(engine)] == ["g-101"]  # only his own guard's

    owner = Processor(engine, clock)  # one process holding every guard (a later single run)
    fault = CommitFault(engine)
    mocker.patch.object(engine.dialect, "do_commit", fault)
    fault.fail(1)
    with pytest.raises(OperationalError, match="injected"):
        owner.tick()
    assert waiting(engine) == 1 and "punches.relayed_in" not in owner.counters.snapshot()

    owner.tick()  # the failed pass is taken back with its transaction: this one looks again
    owner.tick()
    assert waiting(engine) == 0 and owner.counters.snapshot()["punches.relayed_in"] == 1
    g102 = [(r.type, r.event_time) for r in outbox_rows(engine) if r.subject == "g-102"]
    assert g102 == [
        ("attendance.punch", START + timedelta(minutes=1)),
        ("presence.arrived", START + timedelta(minutes=1)),
    ]


def test_a_pass_that_fails_before_its_commit_is_taken_back_and_tried_again(
    engine: Engine, tmp_path: Path, mocker: MockerFixture
) -> None:
    _receiver, clock = receiver_of_g102_punch(engine, tmp_path)
    owner = Processor(engine, clock)
    real = relay._punch_of
    calls: list[int] = []

    def fails_once(row: PunchRow) -> Punch:
        calls.append(row.id)
        if len(calls) == 1:
            raise RuntimeError("injected: the row could not be read")
        return real(row)

    mocker.patch.object(relay, "_punch_of", fails_once)
    with pytest.raises(RuntimeError, match="injected"):
        owner.tick()
    assert waiting(engine) == 1
    owner.tick()  # no reload in between (the commit was never tried): the sweep was undone
    assert len(calls) == 2 and waiting(engine) == 0
    assert owner.counters.snapshot()["punches.relayed_in"] == 1
    assert [r.type for r in outbox_rows(engine) if r.subject == "g-102"] == [
        "attendance.punch",
        "presence.arrived",
    ]


def test_a_punch_from_a_terminal_whose_clock_runs_ahead_is_relayed_not_quarantined(
    engine: Engine, tmp_path: Path
) -> None:
    # Dated by its arrival for the rules, it was then looked up by that time to be relayed:
    # not found, the batch failed again and again and its input was quarantined.
    clock = ManualClock(START + timedelta(minutes=2))
    load_site_file(field_site(tmp_path, ["g-101", "g-102"], {}), engine, START)
    receiver = Processor(engine, clock)
    receiver.set_scope(lambda guard: guard != "g-102")
    ahead = START + timedelta(minutes=9)  # the terminal's clock 8 minutes fast
    punch = Punch(
        "zk-gate", PINS["g-102"], ahead, START + timedelta(minutes=1), PunchKind.CHECK_IN,
        source_format="zkteco_push",
    )  # fmt: skip
    receiver.run_command(lambda session, p: p.store_punches(session, [punch]))
    counters = receiver.counters.snapshot()
    assert (counters["punches.clock_ahead"], counters["punches.relayed"]) == (1, 1)
    assert waiting(engine) == 1
