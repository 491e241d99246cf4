"""Events written in bulk: a tick where a thousand deadlines fall together writes its alerts
and outbox rows in a handful of statements, exactly the rows one-by-one writing gave. (The
alert changes applied in bulk, call by call, are tested in ``test_alert_batch``.)

A site with ``GUARDS`` guards, each with a shift starting at 08:00 (UTC) and no fix: at 08:11
every one of them is absent at shift start (the grace is 10 minutes). The statements the
database receives during that tick are counted with a ``before_cursor_execute`` listener.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import AlertRow
from gateway.outbox.cloudevents import make_event_id
from gateway.outbox.routing import RobotRouter
from gateway.outbox.tables import OutboxRow, RobotRow
from gateway.pipeline.alert_commands import ResolveAlert
from gateway.pipeline.processor import Processor
from gateway.site.loader import load_site_file
from tests.fixtures.sql_statements import Statements

GUARDS = 1_000
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ABSENT = "alert.absent_at_shift_start"


def _site(guards: int) -> dict[str, Any]:
    posts, people, devices, shifts = [], [], [], []
    for index in range(guards):
        lat, lon = 30.5 + (index // 50) * 0.001, 114.3 + (index % 50) * 0.001
        posts.append(
            {
                "id": f"p-{index:04d}",
                "name": f"post {index}",
                "kind": "fixed",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [lon, lat], "radius_m": 30},
            }
        )
        people.append({"id": f"g-{index:04d}", "name": f"guard {index}", "team": "day"})
        devices.append({"id": f"gps-{index:04d}", "kind": "gps", "guard": f"g-{index:04d}"})
        shifts.append(
            {
                "guard": f"g-{index:04d}",
                "post": f"p-{index:04d}",
                "start": "2026-03-02T08:00",
                "end": "2026-03-02T20:00",
            }
        )
    return {
        "sites": [
            {
                "id": "city",
                "name": "city",
                "timezone": "UTC",
                # Only the absence falls at 08:11: the terminals' silence is given an hour.
                "policy": {"device_silent_s": 3600},
                "posts": posts,
                "leaders": [],
                "guards": people,
                "devices": devices,
                "shifts": shifts,
            }
        ]
    }


@pytest.fixture
def city(engine: Engine, tmp_path: Path) -> Iterator[tuple[Processor, ManualClock, Statements]]:
    path = tmp_path / "city.json"
    path.write_text(json.dumps(_site(GUARDS)), encoding="utf-8")
    load_site_file(path, engine, START - timedelta(hours=1))
    clock = ManualClock(START - timedelta(minutes=1))
    processor = Processor(engine, clock, route=RobotRouter())
    processor.tick()
    yield processor, clock, Statements(engine)


def _outbox(engine: Engine) -> list[OutboxRow]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.seq)))


def _alerts(engine: Engine) -> list[AlertRow]:
    with Session(engine) as session:
        return list(session.scalars(select(AlertRow).order_by(AlertRow.id)))


def test_a_thousand_absences_in_one_tick_take_a_handful_of_statements(
    engine: Engine, city: tuple[Processor, ManualClock, Statements]
) -> None:
    processor, clock, statements = city
    delivered: list[str] = []
    processor.add_listener(lambda events: delivered.extend(e.event_id for e in events))
    clock.set(START + timedelta(minutes=11))
    statements.on = True
    processor.tick()
    statements.on = False

    outbox, alerts = _outbox(engine), _alerts(engine)
    assert [r.type for r in outbox] == [ABSENT] * GUARDS
    assert [r.type for r in alerts] == [ABSENT] * GUARDS
    # One row per guard, in the order the deadlines fired, the alert naming its event.
    assert [r.subject for r in outbox] == [a.guard_id for a in alerts]
    assert [r.event_id for r in outbox] == [a.last_event_id for a in alerts] == delivered
    assert len({a.guard_id for a in alerts}) == GUARDS
    first = alerts[0]
    assert (first.status, first.site_id, first.opened_at) == ("open", "city", first.updated_at)
    assert first.shift_id is not None and first.shift_id.startswith(first.guard_id)
    body = json.loads(outbox[0].body)
    assert body["id"] == make_event_id(f"{first.shift_id}:{ABSENT}:{START.isoformat()}")
    assert body["data"]["guard_name"] == first.data["guard_name"]

    # The outbox: one INSERT for every row; the alerts: one SELECT of the keys, one INSERT.
    assert [(s.split()[0], many) for s, many in statements.touching("outbox")] == [("INSERT", True)]
    assert [(s.split()[0], many) for s, many in statements.touching("alerts")] == [
        ("SELECT", False),
        ("INSERT", True),
    ]
    # The robots are read once for the tick (none here: no guard looked up for routing).
    assert [s.split()[0] for s, _ in statements.touching("robots")] == ["SELECT"]
    assert statements.touching("guards") == []


def test_an_alert_written_in_bulk_is_resolved_by_hand_by_the_command(
    engine: Engine, city: tuple[Processor, ManualClock, Statements]
) -> None:
    processor, clock, _statements = city
    clock.set(START + timedelta(minutes=11))
    processor.tick()
    [first, *_] = _alerts(engine)
    answer = processor.run_command(
        ResolveAlert(first.alert_key, note="he called in", by="leader", at=clock.now())
    )
    assert (answer["status"], answer["resolution"]) == ("resolved", "by_hand")
    [again] = [a for a in _alerts(engine) if a.id == first.id]
    assert (again.status, again.resolution, again.resolved_note) == (
        "resolved",
        "by_hand",
        "he called in",
    )
    assert again.last_event_id == _outbox(engine)[-1].event_id


def test_the_router_reads_the_robots_once_a_transaction_and_follows_a_new_one(
    engine: Engine, city: tuple[Processor, ManualClock, Statements]
) -> None:
    _processor, _clock, statements = city
    route = RobotRouter()

    def alerts_routed() -> list[list[str]]:
        with Session(engine) as session, session.begin():
            return [
                list(route(session, type=ABSENT, subject=f"g-{i:04d}", data={}, resolves=False))
                for i in range(3)
            ]

    statements.on = True
    assert alerts_routed() == [[], [], []]
    with Session(engine) as session, session.begin():
        session.add(
            RobotRow(
                id="city-desk",
                site_id="city",
                name="desk",
                kind="wecom",
                webhook_ref="desk",
                teams=[],
                leader_ids=[],
            )
        )
    assert alerts_routed() == [["robot:city-desk"]] * 3
    statements.on = False
    # Once per transaction, three alerts routed in each; the guards looked up once robots exist.
    assert [s.split()[0] for s, _ in statements.touching("robots")] == [
        "SELECT",
        "INSERT",
        "SELECT",
    ]
    assert len(statements.touching("guards")) == 3
