"""The field's hard cases through the real pipeline and database (SQLite, and PostgreSQL when
configured): SOS that no filter or duty may lose, leaves spanning shifts, reports typed in after
the shift closed, and a restart with fixes queued at the broker.

The sample Wuhan site: g-001 keeps the north gate 08:00-20:00 (00:00-12:00 UTC) every day with
terminal gps-001; g-009 works the night (20:00-08:00) with gps-009.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import AlertRow
from gateway.pipeline.commands import ApproveLeave, FileReport
from gateway.pipeline.processor import Processor
from gateway.records import Alarm, AlarmSignal, DecodeOutcome
from tests.e2e.helpers import (
    DAY_START,
    PostPoints,
    day_shift_id,
    fix_at,
    load_sample_site,
    outbox_rows,
    post_points,
)

SOS = frozenset({Alarm.SOS})


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


@pytest.fixture
def site(engine: Engine) -> Iterator[tuple[Engine, ManualClock, PostPoints]]:
    load_sample_site(engine)
    yield engine, ManualClock(DAY_START), post_points(engine, "jt-gate-north")


def events(engine: Engine, type_: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in outbox_rows(engine) if r.type == type_]


def walk(
    processor: Processor,
    clock: ManualClock,
    where: tuple[float, float],
    start_min: float,
    end_min: float,
    every_s: float = 30,
    device: str = "gps-001",
) -> None:
    """Fixes every ``every_s`` from ``start_min`` to ``end_min`` (exclusive), each processed a
    second after it was taken, ticking in between like the runtime."""
    t = at(start_min)
    while t < at(end_min):
        clock.set(t + timedelta(seconds=1))
        processor.process_fixes([fix_at(device, t, where)])
        t += timedelta(seconds=every_s)


# --- SOS ------------------------------------------------------------------------------------


def test_sos_without_a_fix_from_an_off_duty_guard_is_raised(
    site: tuple[Engine, ManualClock, PostPoints],
) -> None:
    engine, clock, _ = site
    processor = Processor(engine, clock)
    clock.set(at(30))
    signal = AlarmSignal("gps-009", at(29.9), at(30), SOS, battery_pct=41.0, raw="indoors")
    processor.process_outcomes([DecodeOutcome(alarms=(signal,))])
    [sos] = events(engine, "alert.sos")
    assert sos["subject"] == "g-009"
    assert sos["data"]["on_duty"] is False and sos["data"]["shift_id"] is None
    assert sos["data"]["position"]["quality"] == "none"
    with Session(engine) as session:
        [row] = session.scalars(select(AlertRow).where(AlertRow.type == "alert.sos"))
        assert row.guard_id == "g-009" and row.status == "open"


def test_sos_in_a_fix_the_filters_drop_is_raised_with_the_dropped_position(
    site: tuple[Engine, ManualClock, PostPoints],
) -> None:
    engine, clock, points = site
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, 1, 3)
    clock.set(at(3.1))
    blurred = fix_at("gps-001", at(3), points.outside, accuracy_m=650.0, alarms=SOS)
    processor.process_fixes([blurred])
    assert processor.counters.snapshot()["dropped.poor_accuracy"] == 1
    [sos] = events(engine, "alert.sos")
    position = sos["data"]["position"]
    assert position["quality"] == "fix_dropped"
    assert position["dropped_because"] == "poor_accuracy"
    assert position["accuracy_m"] == 650.0
    assert sos["data"]["on_duty"] is True and sos["subject"] == "g-001"


def test_sos_at_zero_coordinates_carries_the_last_accepted_position(
    site: tuple[Engine, ManualClock, PostPoints],
) -> None:
    engine, clock, points = site
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, 1, 3)
    clock.set(at(3.1))
    processor.process_fixes([fix_at("gps-001", at(3), (0.0, 0.0), alarms=SOS)])
    [sos] = events(engine, "alert.sos")
    position = sos["data"]["position"]
    assert position["quality"] == "last_accepted"
    assert position["dropped_because"] == "zero_coordinates"
    assert position["lon"] == pytest.approx(points.inside[0])
    assert position["age_s"] == pytest.approx(30.0)


def test_an_sos_fix_older_than_the_last_one_processed_is_raised_once(
    site: tuple[Engine, ManualClock, PostPoints],
) -> None:
    engine, clock, points = site
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, 1, 10)
    late = fix_at("gps-001", at(4), points.inside, alarms=SOS, received_after_s=361)
    processor.process_fixes([late])
    processor.process_fixes([late])  # re-sent: the same emergency, raised once
    [sos] = events(engine, "alert.sos")
    assert sos["time"].startswith(at(4).strftime("%Y-%m-%dT%H:%M"))
    assert sos["data"]["backfilled"] is True


def test_an_emergency_under_way_across_a_restart_is_raised_once(
    site: tuple[Engine, ManualClock, PostPoints],
) -> None:
    engine, clock, points = site
    before = Processor(engine, clock)
    walk(before, clock, points.inside, 1, 3)
    clock.set(at(3.1))
    before.process_fixes([fix_at("gps-001", at(3), points.inside, alarms=SOS)])
    clock.set(at(5))
    after = Processor(engine, clock)  # restarted: the emergency's alert is still open
    after.process_fixes([fix_at("gps-001", at(4.9), points.inside, alarms=SOS)])
    assert len(events(engine, "alert.sos")) == 1
    after.process_fixes([fix_at("gps-001", at(5.5), points.inside)])  # SOS over
    clock.set(at(6.1))
    after.process_fixes([fix_at("gps-001", at(6), points.inside, alarms=SOS)])
    assert len(events(engine, "alert.sos")) == 2


# --- leaves spanning shifts -----------------------------------------------------------------


def test_a_leave_approved_days_ahead_reaches_every_shift_it_overlaps(
    site: tuple[Engine, ManualClock, PostPoints],
) -> None:
    engine, clock, points = site
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, 1, 5)
    # Approved this morning: from 19:00 today to 09:00 tomorrow (spans the night and the start
    # of tomorrow's day shift).
    processor.run_command(
        ApproveLeave(
            guard_id="g-001",
            starts_at=at(11 * 60),
            ends_at=at(25 * 60),
            approved_by="jt-leader-a",
            approved_at=at(5),
        )
    )
    walk(processor, clock, points.inside, 5, 11 * 60, every_s=300)
    walk(processor, clock, points.outside, 11 * 60, 12 * 60, every_s=300)
    clock.set(at(12 * 60 + 1))
    processor.tick()
    # Tomorrow 08:00 the shift starts under the leave: no absence until it ends at 09:00.
    clock.set(at(24 * 60 + 30))
    processor.tick()
    tomorrow = processor.state(day_shift_id("g-001", "jt-gate-north", at(24 * 60)))
    assert tomorrow is not None and [lv.ends_at for lv in tomorrow.leaves] == [at(25 * 60)]
    walk(processor, clock, points.inside, 24 * 60 + 65, 24 * 60 + 70)
    types = [r.type for r in outbox_rows(engine) if r.subject == "g-001"]
    assert "presence.departed" in types
    for alert in (
        "alert.unreported_departure",
        "alert.overtime_departure",
        "alert.left_early",
        "alert.absent_at_shift_start",
        "alert.device_silent",
    ):
        assert alert not in types, alert


# --- reports typed in late ------------------------------------------------------------------


def test_a_report_typed_in_after_the_shift_closed_withdraws_the_unreported_alert(
    site: tuple[Engine, ManualClock, PostPoints],
) -> None:
    engine, clock, points = site
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, 1, 11 * 60 + 50, every_s=300)
    walk(processor, clock, points.outside, 11 * 60 + 50, 12 * 60)
    clock.set(at(12 * 60 + 5))
    processor.tick()
    [unreported] = events(engine, "alert.unreported_departure")
    assert [e["type"] for e in events(engine, "alert.left_early")] == ["alert.left_early"]
    # At 20:30 the leader types the report the guard phoned at 19:49.
    clock.set(at(12 * 60 + 30))
    processor.run_command(
        FileReport(guard_id="g-001", reported_at=at(11 * 60 + 49), received_at=clock.now())
    )
    [withdrawn] = events(engine, "alert.withdrawn")
    assert withdrawn["data"]["withdrawn_type"] == "alert.unreported_departure"
    assert withdrawn["data"]["reason"] == "report_on_record"
    with Session(engine) as session:
        row = session.scalars(
            select(AlertRow).where(AlertRow.type == "alert.unreported_departure")
        ).one()
        assert (row.status, row.resolution) == ("resolved", "withdrawn")
        assert row.resolved_at == at(12 * 60 + 30)  # when the gateway learned it was wrong
        assert row.last_event_id == withdrawn["id"]
    assert unreported["id"] != withdrawn["id"]


# --- restart --------------------------------------------------------------------------------


def test_a_deadline_missed_while_down_is_late_even_when_queued_fixes_come_before_the_tick(
    site: tuple[Engine, ManualClock, PostPoints],
) -> None:
    engine, clock, points = site
    before = Processor(engine, clock)
    walk(before, clock, points.inside, 1, 5)
    walk(before, clock, points.outside, 5, 7)
    assert [e["type"] for e in events(engine, "presence.departed")] == ["presence.departed"]
    # Killed at 08:07; back at 08:40 with the fixes of 08:07-08:40 waiting at the broker.
    clock.set(at(40))
    after = Processor(engine, clock)
    queued = []
    t = at(7)
    while t < at(40):
        queued.append(fix_at("gps-001", t, points.outside, received_after_s=(at(40) - t).seconds))
        t += timedelta(seconds=30)
    after.process_fixes(queued)
    [overtime] = events(engine, "alert.overtime_departure")
    assert overtime["data"]["late"] is True
    assert overtime["time"].startswith(at(20).strftime("%Y-%m-%dT%H:%M"))


@pytest.mark.parametrize("first", ["tick", "queued fixes"])
def test_after_a_restart_the_data_the_broker_kept_decides_whatever_comes_first(
    site: tuple[Engine, ManualClock, PostPoints], first: str
) -> None:
    engine, clock, points = site
    before = Processor(engine, clock)
    walk(before, clock, points.inside, 1, 5)
    walk(before, clock, points.outside, 5, 9)
    # Down from 08:09 to 08:24; the terminal went on publishing every 30 s, and he was back
    # on post at 08:19: neither silent nor off post past 15 minutes, whatever the gateway's
    # first tick finds due on its clock before the broker's backlog reaches it.
    clock.set(at(24))
    after = Processor(engine, clock)
    if first == "tick":
        after.tick()
    queued = []
    t = at(9)
    while t <= at(24):
        where = points.outside if t < at(19) else points.inside
        queued.append(fix_at("gps-001", t, where, received_after_s=(at(24) - t).seconds))
        t += timedelta(seconds=30)
    after.process_fixes(queued)
    clock.set(at(25))
    after.tick()
    mine = [r for r in outbox_rows(engine) if r.subject == "g-001"]
    assert [r.type for r in mine] == [
        "presence.arrived",
        "presence.departed",
        "alert.unreported_departure",
        "presence.returned",
    ]
    [returned] = events(engine, "presence.returned")
    assert returned["time"].startswith(at(19).strftime("%Y-%m-%dT%H:%M"))


def test_after_a_restart_a_terminal_silent_while_the_gateway_was_down_is_reported_late(
    site: tuple[Engine, ManualClock, PostPoints],
) -> None:
    engine, clock, points = site
    before = Processor(engine, clock)
    walk(before, clock, points.inside, 1, 5)
    # Down from 08:05 to 08:24, and nothing waited at the broker: the terminal was silent.
    clock.set(at(24))
    after = Processor(engine, clock)
    after.tick()
    assert [r.type for r in outbox_rows(engine) if r.subject == "g-001"] == ["presence.arrived"]
    clock.set(at(24.5))
    after.tick()
    [silent] = [
        r for r in outbox_rows(engine) if r.type == "alert.device_silent" and r.subject == "g-001"
    ]
    body = json.loads(silent.body)
    assert body["time"].startswith(at(14.5).strftime("%Y-%m-%dT%H:%M"))
    assert body["data"]["late"] is True


def _down_across_the_start(engine: Engine) -> tuple[Processor, ManualClock, PostPoints]:
    """The sample site, the gateway running from 07:50 and down from 07:57 to 08:20: g-001's
    shift began while it was down, so its machine starts at the restart."""
    load_sample_site(engine)
    points = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-10))
    before = Processor(engine, clock)
    before.tick()
    walk(before, clock, points.inside, -5, -3)
    clock.set(at(20))
    return Processor(engine, clock), clock, points


@pytest.mark.parametrize("first", ["tick", "queued fixes"])
def test_a_shift_begun_while_down_is_decided_by_the_fixes_the_broker_kept(
    engine: Engine, first: str
) -> None:
    # On post all along, his terminal publishing every 30 s into the broker's session. Before:
    # a first tick before the backlog raised absent at shift start and terminal silent.
    after, clock, points = _down_across_the_start(engine)
    if first == "tick":
        after.tick()
    queued = []
    t = at(-3)
    while t <= at(20):
        queued.append(fix_at("gps-001", t, points.inside, received_after_s=(at(20) - t).seconds))
        t += timedelta(seconds=30)
    after.process_fixes(queued)
    clock.set(at(21))
    after.tick()
    assert [r.type for r in outbox_rows(engine) if r.subject == "g-001"] == ["presence.arrived"]


def test_a_shift_begun_while_down_with_nothing_kept_is_raised_absent_late(engine: Engine) -> None:
    after, clock, _ = _down_across_the_start(engine)
    after.tick()
    assert [r.type for r in outbox_rows(engine) if r.subject == "g-001"] == []
    clock.set(at(20.5))  # the broker had its 30 s to hand a backlog over: there was none
    after.tick()
    mine = [json.loads(r.body) for r in outbox_rows(engine) if r.subject == "g-001"]
    assert [(e["type"], e["data"]["late"]) for e in mine] == [
        ("alert.absent_at_shift_start", True),
        ("alert.device_silent", True),
    ]
