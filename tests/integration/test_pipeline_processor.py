"""The processor on a real database (SQLite, and PostgreSQL when configured) with the sample
Wuhan site: fixes in, exactly the right outbox rows and alerts out, on a manual clock.

Guard g-001 keeps the north gate (jt-gate-north, fence drawn in GCJ-02) from 08:00 to 20:00
Asia/Shanghai. He arrives at 08:01 and leaves at 08:05 (first fix 300 m north of the gate).
Limits are the site's defaults: departure confirmed after 60 s outside, the unreported decision
2 min after leaving, overtime 15 min after leaving, return confirmed after 30 s inside.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import AlertRow, PositionRow
from gateway.pipeline.commands import ApproveLeave, CancelLeave, FileReport
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import (
    DAY_START,
    PostPoints,
    day_shift_id,
    fix_at,
    load_sample_site,
    outbox_rows,
    post_points,
)

SHIFT = day_shift_id("g-001", "jt-gate-north")
DEVICE = "gps-001"
EVENT_NAMESPACE = uuid.UUID("3c1f6f0e-2a8e-5b7c-9d41-6a0f2d7e9b15")  # fixed by the contract


def at(minutes: float) -> datetime:
    """``minutes`` after the shift start (08:00 local, 00:00 UTC)."""
    return DAY_START + timedelta(minutes=minutes)


def event_id(type_: str, episode: datetime | str) -> str:
    """The id the core de-duplicates on: uuid5 of ``<shift>:<type>:<episode>``."""
    text = episode if isinstance(episode, str) else episode.isoformat()
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{SHIFT}:{type_}:{text}"))


class Walk:
    """Plays one terminal's fixes through a processor, the clock following the fixes."""

    def __init__(self, processor: Processor, clock: ManualClock, points: PostPoints) -> None:
        self.processor = processor
        self.clock = clock
        self.points = points
        self.cursor = at(1)  # his first fix: a minute into the shift

    def stay(self, until_min: float, where: str, every_s: float = 30, device: str = DEVICE) -> None:
        """Fixes every ``every_s`` from the cursor to ``until_min`` (exclusive), one at a time,
        each processed 1 s after it was taken."""
        point = self.points.inside if where == "inside" else self.points.outside
        end = at(until_min)
        while self.cursor < end:
            self.clock.set(self.cursor + timedelta(seconds=1))
            self.processor.process_fixes([fix_at(device, self.cursor, point)])
            self.cursor += timedelta(seconds=every_s)
        self.cursor = end

    def tick_at(self, minutes: float) -> None:
        """Move the clock (the terminal silent) and let deadlines fire."""
        self.clock.set(at(minutes))
        self.processor.tick()
        self.cursor = max(self.cursor, at(minutes))


@pytest.fixture
def site(engine: Engine) -> Iterator[tuple[Engine, ManualClock, PostPoints]]:
    load_sample_site(engine)
    yield engine, ManualClock(DAY_START), post_points(engine, "jt-gate-north")


@pytest.fixture
def walk(site: tuple[Engine, ManualClock, PostPoints]) -> Walk:
    engine, clock, points = site
    processor = Processor(engine, clock)
    processor.tick()
    return Walk(processor, clock, points)


def rows(engine: Engine, guard_id: str = "g-001") -> list[tuple[str, str, datetime, str]]:
    """(type, subject, event time, id) of the guard's outbox rows, in delivery order.

    The other day guards of the sample site have no terminal in these tests; what they get is
    checked on its own (``test_guards_never_heard_from_are_absent_and_silent``)."""
    return [
        (r.type, r.subject, r.event_time, r.event_id)
        for r in outbox_rows(engine)
        if r.subject == guard_id
    ]


def alerts(engine: Engine) -> dict[str, AlertRow]:
    """g-001's alerts by type."""
    with Session(engine, expire_on_commit=False) as session:
        stmt = select(AlertRow).where(AlertRow.guard_id == "g-001")
        found = {a.type: a for a in session.scalars(stmt)}
        session.expunge_all()
        return found


def body(engine: Engine, type_: str) -> dict[str, Any]:
    """The envelope of g-001's only event of ``type_``, as it will be sent."""
    matches = [
        json.loads(r.body) for r in outbox_rows(engine) if r.type == type_ and r.subject == "g-001"
    ]
    assert len(matches) == 1, f"{type_}: {len(matches)} rows"
    found: dict[str, Any] = matches[0]
    return found


ARRIVED = ("presence.arrived", "g-001", at(1), event_id("presence.arrived", at(0)))
DEPARTED = ("presence.departed", "g-001", at(5), event_id("presence.departed", at(5)))
UNREPORTED = (
    "alert.unreported_departure",
    "g-001",
    at(5),
    event_id("alert.unreported_departure", at(5)),
)


def overtime(when: datetime) -> tuple[str, str, datetime, str]:
    return ("alert.overtime_departure", "g-001", when, event_id("alert.overtime_departure", at(5)))


def returned(when: datetime) -> tuple[str, str, datetime, str]:
    return ("presence.returned", "g-001", when, event_id("presence.returned", at(5)))


def test_guard_outside_14_minutes_without_report_raises_unreported_but_not_overtime(
    walk: Walk, engine: Engine
) -> None:
    walk.stay(5, "inside")
    walk.stay(19, "outside")
    walk.stay(25, "inside")

    assert rows(engine) == [ARRIVED, DEPARTED, UNREPORTED, returned(at(19))]
    found = alerts(engine)
    assert set(found) == {"alert.unreported_departure"}
    assert found["alert.unreported_departure"].status == "resolved"
    ret = body(engine, "presence.returned")["data"]
    assert ret["duration_s"] == 14 * 60
    assert ret["report_id"] is None and ret["leave_id"] is None


def test_guard_outside_16_minutes_without_leave_raises_overtime(walk: Walk, engine: Engine) -> None:
    walk.stay(5, "inside")
    walk.stay(21, "outside")
    walk.stay(25, "inside")

    assert rows(engine) == [ARRIVED, DEPARTED, UNREPORTED, overtime(at(20)), returned(at(21))]
    found = alerts(engine)
    assert set(found) == {"alert.unreported_departure", "alert.overtime_departure"}
    assert all(a.status == "resolved" for a in found.values())
    over = body(engine, "alert.overtime_departure")
    assert over["subject"] == "g-001"
    assert over["data"]["off_post_s"] == 900
    assert over["data"]["late"] is False and over["data"]["backfilled"] is False
    assert over["data"]["post_id"] == "jt-gate-north"
    departed = body(engine, "presence.departed")["data"]
    assert departed["first_fix"]["time"] == at(5).isoformat()
    assert departed["detected_at"] == (at(6) + timedelta(seconds=1)).isoformat()


def test_verbal_report_before_leaving_covers_the_departure(walk: Walk, engine: Engine) -> None:
    walk.stay(4, "inside")
    walk.clock.set(at(4))
    report = walk.processor.run_command(
        FileReport(
            guard_id="g-001",
            reported_at=at(4),
            received_at=walk.clock.now(),
            expected_return_at=at(15),
            destination="便利店",
        )
    )
    walk.stay(5, "inside")
    walk.stay(15, "outside")
    walk.stay(20, "inside")

    assert rows(engine) == [ARRIVED, DEPARTED, returned(at(15))]
    assert alerts(engine) == {}
    assert body(engine, "presence.departed")["data"]["report_id"] == report["id"]
    assert body(engine, "presence.returned")["data"]["report_id"] == report["id"]


def test_report_phoned_in_after_leaving_within_the_grace_covers_the_departure(
    walk: Walk, engine: Engine
) -> None:
    walk.stay(5, "inside")
    walk.stay(6.5, "outside")
    walk.processor.run_command(
        FileReport(guard_id="g-001", reported_at=at(6.5), received_at=walk.clock.now())
    )
    walk.stay(12, "outside")
    walk.stay(15, "inside")

    assert rows(engine) == [ARRIVED, DEPARTED, returned(at(12))]


def test_approved_leave_covers_a_long_departure_and_not_cancelling_it_raises_an_alert(
    walk: Walk, engine: Engine
) -> None:
    walk.stay(3, "inside")
    leave = walk.processor.run_command(
        ApproveLeave(
            guard_id="g-001",
            starts_at=at(5),
            ends_at=at(45),
            approved_by="jt-leader-a",
            approved_at=walk.clock.now(),
            reason="看病",
        )
    )
    walk.stay(5, "inside")
    walk.stay(30, "outside")  # 25 minutes out, within the leave
    walk.stay(91, "inside", every_s=120)
    # The runtime ticks: the hour fell at 09:30 in the gap before the fix of 09:30, which waits
    # its 5 s for stored fixes (every fix of a terminal saving power does).
    walk.tick_at(91)

    not_cancelled = (
        "alert.leave_not_cancelled",
        "g-001",
        at(90),
        event_id("alert.leave_not_cancelled", leave["id"]),
    )
    assert rows(engine) == [ARRIVED, DEPARTED, returned(at(30)), not_cancelled]
    assert body(engine, "presence.departed")["data"]["leave_id"] == leave["id"]
    found = alerts(engine)
    assert set(found) == {"alert.leave_not_cancelled"}
    assert found["alert.leave_not_cancelled"].status == "open"

    # Cancelling late still records the cancellation and ends the alert.
    walk.clock.set(at(95))
    walk.processor.run_command(CancelLeave(leave_id=leave["id"], cancelled_at=at(95)))
    assert [r[0] for r in rows(engine)][-1] == "leave.cancelled"
    assert body(engine, "leave.cancelled")["data"]["in_time"] is False
    assert alerts(engine)["alert.leave_not_cancelled"].status == "resolved"


def test_leave_cancelled_in_time_raises_no_alert(walk: Walk, engine: Engine) -> None:
    walk.stay(3, "inside")
    leave = walk.processor.run_command(
        ApproveLeave(
            guard_id="g-001",
            starts_at=at(5),
            ends_at=at(45),
            approved_by="jt-leader-a",
            approved_at=walk.clock.now(),
        )
    )
    walk.stay(5, "inside")
    walk.stay(30, "outside")
    walk.stay(40, "inside", every_s=60)
    walk.processor.run_command(CancelLeave(leave_id=leave["id"], cancelled_at=walk.clock.now()))
    walk.stay(100, "inside", every_s=120)

    assert [r[0] for r in rows(engine)] == [
        "presence.arrived",
        "presence.departed",
        "presence.returned",
        "leave.cancelled",
    ]
    assert body(engine, "leave.cancelled")["data"]["in_time"] is True
    assert alerts(engine) == {}


def test_silent_terminal_outside_still_raises_overtime_on_the_clock(
    walk: Walk, engine: Engine
) -> None:
    walk.stay(5, "inside")
    walk.stay(7.5, "outside")  # last fix at 08:07:00, received 08:07:01; then nothing
    walk.tick_at(19.99)
    walk.tick_at(20)

    silent = (
        "alert.device_silent",
        "g-001",
        at(17) + timedelta(seconds=1),
        event_id("alert.device_silent", at(7) + timedelta(seconds=1)),
    )
    assert rows(engine) == [ARRIVED, DEPARTED, UNREPORTED, silent, overtime(at(20))]
    over = body(engine, "alert.overtime_departure")["data"]
    assert over["detected_at"] == at(20).isoformat()
    assert over["late"] is False
    assert over["last_fix"]["time"] == at(7).isoformat()


def test_guards_never_heard_from_are_absent_and_silent(walk: Walk, engine: Engine) -> None:
    walk.tick_at(9.99)
    assert outbox_rows(engine) == []
    walk.tick_at(10)
    walk.tick_at(30)

    others = [(r.subject, r.type, r.event_time) for r in outbox_rows(engine)]
    expected = []
    for guard in ("g-001", "g-002", "g-003", "g-004", "g-005"):
        expected += [
            (guard, "alert.absent_at_shift_start", at(10)),
            (guard, "alert.device_silent", at(10)),
        ]
    assert sorted(others) == sorted(expected)
    assert {r.subject for r in outbox_rows(engine)}.isdisjoint({"g-006", "g-007"})  # night


def test_fixes_of_an_off_duty_guard_are_not_stored(walk: Walk, engine: Engine) -> None:
    walk.stay(3, "inside")
    night_guard = walk.points.inside  # g-006 keeps the same gate at night; off duty now
    walk.clock.set(at(3))
    walk.processor.process_fixes(
        [fix_at("gps-006", at(2) + timedelta(seconds=s), night_guard) for s in (0, 20, 40)]
    )

    with Session(engine) as session:
        stored = {r.device_id for r in session.scalars(select(PositionRow))}
        count = len(list(session.scalars(select(PositionRow))))
    assert stored == {DEVICE}
    assert count == 4  # 08:01:00 ... 08:02:30, every 30 s
    counters = walk.processor.counters.snapshot()
    assert counters["dropped.off_duty"] == 3
    assert counters["fixes.stored"] == 4
    assert [r[0] for r in rows(engine)] == ["presence.arrived"]


def test_fix_of_an_unknown_device_is_counted_and_dropped(walk: Walk, engine: Engine) -> None:
    walk.clock.set(at(2))
    walk.processor.process_fixes([fix_at("gps-999", at(1), walk.points.inside)])

    counters = walk.processor.counters.snapshot()
    assert counters["dropped.unknown_device"] == 1
    assert counters.get("fixes.stored", 0) == 0
    with Session(engine) as session:
        assert list(session.scalars(select(PositionRow))) == []
    assert rows(engine) == []


def test_dropped_fixes_are_counted_by_reason(walk: Walk, engine: Engine) -> None:
    inside = walk.points.inside
    lon, lat = inside
    now = at(10)
    walk.clock.set(now)
    good = fix_at(DEVICE, at(9), inside)
    batches = [
        [good],
        [good],  # the same fix again (a QoS 1 redelivery)
        [fix_at(DEVICE, at(9.1), (0.0, 0.0))],
        [fix_at(DEVICE, at(9.2), (lon, 91.0))],
        [fix_at(DEVICE, now + timedelta(minutes=10), inside)],
        [fix_at(DEVICE, now - timedelta(hours=24, minutes=5), inside)],
        [fix_at(DEVICE, at(9.3), inside, accuracy_m=500.0)],
        [fix_at(DEVICE, at(9.4), (lon + 0.05, lat))],  # ~4.8 km in 24 s
        [fix_at(DEVICE, at(9.5), inside)],
    ]
    for batch in batches:
        walk.processor.process_fixes(batch)

    counters = walk.processor.counters.snapshot()
    dropped = {k: v for k, v in counters.items() if k.startswith("dropped.")}
    assert dropped == {
        "dropped.duplicate": 1,
        "dropped.zero_coordinates": 1,
        "dropped.invalid_coordinates": 1,
        "dropped.future_fix": 1,
        "dropped.stale_fix": 1,
        "dropped.poor_accuracy": 1,
        "dropped.impossible_jump": 1,
    }
    assert counters["fixes.received"] == 9
    assert counters["fixes.stored"] == 2
    with Session(engine) as session:
        times = sorted(r.fix_time for r in session.scalars(select(PositionRow)))
    assert times == [at(9), at(9.5)]


def test_restart_in_the_middle_of_a_departure_neither_repeats_nor_loses_the_overtime(
    site: tuple[Engine, ManualClock, PostPoints],
) -> None:
    engine, clock, points = site
    first = Processor(engine, clock)
    first.tick()
    walk = Walk(first, clock, points)
    walk.stay(5, "inside")
    walk.stay(10, "outside")
    assert rows(engine) == [ARRIVED, DEPARTED, UNREPORTED]
    last_fixes = [fix_at(DEVICE, at(9.5), points.outside), fix_at(DEVICE, at(9), points.outside)]

    # The gateway dies at 08:10 (its memory is gone; what it committed stays) and comes back
    # at 08:16, before the overtime deadline (08:20).
    del first, walk
    clock.set(at(16))
    second = Processor(engine, clock)
    # The broker redelivers the last unacknowledged messages: they change nothing.
    second.process_fixes(last_fixes)
    second.tick()
    assert rows(engine) == [ARRIVED, DEPARTED, UNREPORTED]

    # It dies again at 08:17 and is down until 08:21: the deadline passed while it was down,
    # so the overtime fires after the start, marked late, and only once. Not at the first
    # tick: the broker's backlog gets RESTART_GRACE_S to show him back first; none comes.
    del second
    clock.set(at(21))
    third = Processor(engine, clock)
    third.tick()
    assert rows(engine) == [ARRIVED, DEPARTED, UNREPORTED]
    clock.set(at(21.5))
    third.tick()
    third.tick()
    # Silence counts from the last message received (the redelivery at 08:09:31).
    silent = (
        "alert.device_silent",
        "g-001",
        at(19.5) + timedelta(seconds=1),
        event_id("alert.device_silent", at(9.5) + timedelta(seconds=1)),
    )
    assert rows(engine) == [ARRIVED, DEPARTED, UNREPORTED, silent, overtime(at(20))]
    over = body(engine, "alert.overtime_departure")["data"]
    assert over["late"] is True and over["backfilled"] is True
    assert over["detected_at"] == at(21.5).isoformat()

    # Another restart: the alert fired once and stays fired; the return still resolves it.
    del third
    fourth = Processor(engine, clock)
    fourth.tick()
    resumed = Walk(fourth, clock, points)
    resumed.cursor = at(21.5)
    resumed.stay(24, "inside")
    resumed_rows = rows(engine)
    assert resumed_rows[:5] == [ARRIVED, DEPARTED, UNREPORTED, silent, overtime(at(20))]
    assert [r[0] for r in resumed_rows[5:]] == ["presence.device_resumed", "presence.returned"]
    assert resumed_rows[-1] == returned(at(21.5))
    found = alerts(engine)
    assert set(found) == {
        "alert.unreported_departure",
        "alert.device_silent",
        "alert.overtime_departure",
    }
    assert all(a.status == "resolved" for a in found.values())


def test_a_gateway_running_for_weeks_keeps_expanding_the_roster(engine: Engine) -> None:
    clock = ManualClock(DAY_START)
    load_sample_site(engine)
    clock.advance(timedelta(days=20))  # far past the days expanded when the site was loaded
    processor = Processor(engine, clock)
    on_duty = {duty.guard_id for duty in processor.duties.active(clock.now())}
    assert on_duty == {"g-001", "g-002", "g-003", "g-004", "g-005"}
