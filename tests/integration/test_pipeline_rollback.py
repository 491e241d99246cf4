"""A failed transaction takes memory back with it: the batch retried from scratch gives exactly
what the same batch gives when nothing fails.

The same day is played twice, each on its own empty database (SQLite, and PostgreSQL when
configured), on identical manual clocks: once undisturbed, once with the commit of every
batch, tick and command failing the first time (the driver's ``OperationalError`` raised by the
dialect's commit, after every stage has run and changed memory) and the same input retried at
once. Everything is compared: positions, outbox rows byte for byte, alerts, saved states, the
counters, and what memory holds (last fixes, presence-since, reader alerts, SOS episodes, the
filters' memory, the patrol machines).

The day exercises every kind of memory: g-001 arrives, leaves (the unreported decision falls
due on a tick) and comes back, a fix of his is re-sent in a later batch (the filters must still
call it a duplicate, and must not call the retried batch's own fixes so); g-002 presses SOS twice
in one emergency; g-004's wand scans two checkpoints of his patrol route; a fixed reader loses
and regains its device (the reader-alert commands).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_mock import MockerFixture
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import AlertRow, PatrolStateRow, PositionRow, PresenceStateRow
from gateway.pipeline.commands import ReportReaderState
from gateway.pipeline.processor import Processor
from gateway.records import Alarm, CheckpointScan, PositionFix
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, SAMPLE_SITE, fix_at, outbox_rows, post_points
from tests.fixtures.databases import CommitFault, more_databases

WAND = "wand-07"
TAG_A, TAG_B = "0100A1B2C3", "0100A1B2C4"


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


@pytest.fixture
def another_engine(db_url: str, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    yield from more_databases(db_url, tmp_path)


def site_file(tmp_path: Path) -> Path:
    doc = yaml.safe_load(SAMPLE_SITE.read_text(encoding="utf-8"))
    site = doc["sites"][0]
    site["devices"].append({"id": WAND, "kind": "patrol_wand", "guard": "g-004"})
    site["checkpoints"] = [
        {"id": "cp-a", "name": "A", "post": "jt-patrol-central", "tags": [TAG_A]},
        {"id": "cp-b", "name": "B", "post": "jt-patrol-central", "tags": [TAG_B]},
    ]
    site["routes"] = [
        {
            "id": "garden",
            "post": "jt-patrol-central",
            "schedule": {"every_min": 60, "offset_min": 0},
            "checkpoints": [
                {"checkpoint": "cp-a", "window_min": [0, 10]},
                {"checkpoint": "cp-b", "window_min": [10, 20]},
            ],
        }
    ]
    path = tmp_path / "rollback-site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


Step = Callable[[Processor], object]


def the_day(engine: Engine) -> list[tuple[datetime, Step]]:
    """(clock, what happens) in order: batches of fixes and scans, ticks and commands."""
    north = post_points(engine, "jt-gate-north")
    east = post_points(engine, "jt-gate-east")
    steps: list[tuple[datetime, Step]] = []

    def g1(minute: float, where: tuple[float, float]) -> PositionFix:
        return fix_at("gps-001", at(minute), where)

    def batch(*fixes: PositionFix, scans: tuple[CheckpointScan, ...] = ()) -> Step:
        return lambda p: p.process_fixes(list(fixes), scans=scans)

    minute = 1.0
    while minute < 25:  # four fixes a batch, every 30 s: inside, outside 5-19, back in
        fixes = [
            g1(m, north.inside if (m < 5 or m >= 19) else north.outside)
            for m in (minute, minute + 0.5, minute + 1, minute + 1.5)
        ]
        if minute == 7:
            fixes.append(g1(5, north.outside))  # re-sent: an earlier batch stored it
        scans: tuple[CheckpointScan, ...] = ()
        if minute == 3:
            scans = (CheckpointScan(WAND, TAG_A, at(3), at(3.1)),)
        if minute == 11:
            scans = (CheckpointScan(WAND, TAG_B, at(11), at(11.1)),)
        if minute in (9, 11):  # g-002 presses SOS twice: one emergency
            sos = fix_at("gps-002", at(minute), east.inside, alarms=frozenset({Alarm.SOS}))
            fixes.append(sos)
        steps.append((at(minute + 1.5) + timedelta(seconds=2), batch(*fixes, scans=scans)))
        steps.append((at(minute + 1.75), lambda p: p.tick()))
        if minute == 5:
            steps.append((at(6.9), command(ReportReaderState("rd-1", False, "unplugged", at(6.9)))))
        if minute == 13:
            steps.append((at(14.9), command(ReportReaderState("rd-1", True, "back", at(14.9)))))
        minute += 2
    return steps


def command(cmd: Any) -> Step:
    return lambda p: p.run_command(cmd)


def memory_of(processor: Processor) -> dict[str, Any]:
    """What the processor remembers between batches, as comparable values."""
    memory = processor.memory
    filters = processor._chain.batch[1]._filter  # type: ignore[attr-defined]
    patrol = processor._chain.patrol
    return copy.deepcopy(
        {
            "presence": dict(memory.presence),
            "stored": set(memory.stored),
            "last_fix": dict(memory.last_fix),
            "presence_since": dict(memory.presence_since),
            "reader_alerts": dict(memory.reader_alerts),
            "sos": dict(memory.sos._episodes),
            "filters": {
                device: (list(s.times), list(s.places), s.suspect)
                for device, s in filters._devices.items()
            },
            "patrols": dict(patrol._patrols),
            "attendance": dict(patrol.attendance.states),
        }
    )


def stored(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        positions = [
            (r.device_id, r.fix_time, r.lat, r.lon, r.membership)
            for r in session.scalars(select(PositionRow).order_by(PositionRow.id))
        ]
        alerts = [
            (a.alert_key, a.type, a.status, a.opened_at, a.resolved_at, a.resolution)
            for a in session.scalars(select(AlertRow).order_by(AlertRow.id))
        ]
        presence = {r.shift_id: r.state for r in session.scalars(select(PresenceStateRow))}
        patrols = {r.machine_id: r.state for r in session.scalars(select(PatrolStateRow))}
    outbox = [
        (r.event_id, r.destination, r.type, r.subject, r.event_time, r.body)
        for r in outbox_rows(engine)
    ]
    return {
        "positions": positions,
        "outbox": outbox,
        "alerts": alerts,
        "presence": presence,
        "patrols": patrols,
    }


def play(
    engine: Engine, tmp_path: Path, fault: CommitFault | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    clock = ManualClock(DAY_START)
    load_site_file(site_file(tmp_path), engine, clock.now())
    processor = Processor(engine, clock)
    for when, step in the_day(engine):
        clock.set(when)
        if fault is None:
            step(processor)
            continue
        before = memory_of(processor)
        fault.fail(1)  # a step that writes nothing (a quiet tick) commits nothing
        try:
            step(processor)
        except OperationalError as exc:
            assert "injected" in str(exc)
            assert memory_of(processor) == before, f"memory not rolled back at {when}"
            step(processor)  # (an answer lost: the states the commit saved are re-read first)
        else:
            assert memory_of(processor) == before, f"a quiet step changed memory at {when}"
        fault.fail(0)
    return stored(engine), memory_of(processor), processor.counters.snapshot()


def test_a_batch_retried_after_a_failed_commit_gives_exactly_the_undisturbed_result(
    engine: Engine,
    another_engine: Callable[[], Engine],
    tmp_path: Path,
    mocker: MockerFixture,
) -> None:
    expected_rows, expected_memory, expected_counters = play(engine, tmp_path, None)

    faulty = another_engine()
    fault = CommitFault(faulty)
    mocker.patch.object(faulty.dialect, "do_commit", fault)
    rows, memory, counters = play(faulty, tmp_path, fault)

    assert len(the_day(engine)) == 26  # 12 batches, 12 ticks, 2 commands
    # Every batch and command writes; no tick does: the 30-s batches leave none of the day's
    # deadlines to them (each falls due in a batch's own deadline stage).
    assert fault.fired == 12 + 2
    assert counters.pop("errors.transaction") == fault.fired
    assert counters == expected_counters
    assert rows == expected_rows
    assert memory == expected_memory
    # The undisturbed day itself, so the comparison is not between two empty results.
    assert len(rows["positions"]) == 48 + 2  # g-001's 48 fixes and g-002's two SOS fixes
    assert counters["fixes.received"] == 51
    assert counters["fixes.stored"] == 50
    assert counters["dropped.duplicate"] == 1  # the re-sent one, and only it
    assert counters["alarms.sos"] == 1
    assert counters["scans.stored"] == 2
    assert sorted((row[2], row[3]) for row in rows["outbox"]) == [
        ("alert.absent_at_shift_start", "g-003"),  # the day guards never heard from
        ("alert.absent_at_shift_start", "g-005"),
        ("alert.device_silent", "g-002"),
        ("alert.device_silent", "g-003"),
        ("alert.device_silent", "g-004"),
        ("alert.device_silent", "g-005"),
        ("alert.device_silent", "rd-1"),
        ("alert.sos", "g-002"),
        ("alert.unreported_departure", "g-001"),
        ("patrol.checkpoint_scanned", "g-004"),
        ("patrol.checkpoint_scanned", "g-004"),
        ("patrol.round_completed", "g-004"),
        ("presence.arrived", "g-001"),
        ("presence.arrived", "g-002"),
        ("presence.arrived", "g-004"),
        ("presence.departed", "g-001"),
        ("presence.device_resumed", "rd-1"),
        ("presence.returned", "g-001"),
    ]
    assert memory["reader_alerts"] == {}
    assert set(memory["sos"]) == {"gps-002"}


def test_a_commit_whose_answer_was_lost_is_retried_without_storing_or_sending_twice(
    engine: Engine,
    another_engine: Callable[[], Engine],
    tmp_path: Path,
    mocker: MockerFixture,
) -> None:
    """The connection drops after the server committed: the gateway cannot tell, rolls memory
    back and retries; the database, re-read first, makes the retry a repeat of what is there."""
    expected_rows, expected_memory, expected_counters = play(engine, tmp_path, None)

    faulty = another_engine()
    fault = CommitFault(faulty)
    fault.answer_lost = True
    mocker.patch.object(faulty.dialect, "do_commit", fault)
    rows, memory, counters = play(faulty, tmp_path, fault)

    assert fault.fired == 12 + 2
    assert rows == expected_rows  # the same positions, outbox rows, alerts and states
    for kind in ("presence", "stored", "sos", "patrols", "attendance", "reader_alerts"):
        assert memory[kind] == expected_memory[kind], kind
    assert counters.pop("errors.transaction") == 14
    # The retried batches find their fixes stored: not stored again, not fed to the rules again.
    assert counters.pop("dropped.duplicate_stored") == 50
    assert counters.pop("fixes.stored") == 0
    assert expected_counters.pop("fixes.stored") == 50
    # What the lost commits counted is not counted (the gateway cannot know they went
    # through); the retries count what they found there. The reader's command, retried with
    # memory rolled back, finds its alert open in the database and emits nothing again.
    differing = {k: v for k, v in counters.items() if expected_counters.get(k) != v}
    assert differing == {"scans.duplicate": 2}
    assert sorted(set(expected_counters) - set(counters)) == [
        "alarms.sos",
        "events.alert.absent_at_shift_start",
        "events.alert.device_silent",
        "events.alert.sos",
        "events.alert.unreported_departure",
        "events.patrol.checkpoint_scanned",
        "events.patrol.round_completed",
        "events.presence.arrived",
        "events.presence.departed",
        "events.presence.returned",
        "scans.stored",
    ]
    assert counters["fixes.received"] == 51
