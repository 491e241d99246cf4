"""An erasure waits for the decisions the running gateway still owes about the guard.

g-001 goes out on an approved leave and comes back without cancelling it (销假); before the
hour to cancel is up he leaves the company: the operator takes him out of the site file and
loads it (his shift is cut short), every event about him is delivered, and the privacy officer
asks the API to erase him. The running pipeline still holds his rule state in memory, with
the leave-not-cancelled alert due at 09:20: an erasure now would be followed by that alert,
its event and his name, written about a guard who was erased. So it is refused with the time
the decision is due, and goes through once the alert is raised and delivered; after it,
nothing about him comes back. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from gateway.api.app import create_app
from gateway.bootstrap import ApiServer
from gateway.clock import ManualClock
from gateway.db.models import AlertRow, PresenceStateRow, ShiftRow
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.commands import ApproveLeave
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.records import DecodeOutcome
from tests.e2e.helpers import DAY_START, fix_at, post_points, roster_site
from tests.e2e.helpers import load_sample_site as load_site
from tests.fixtures.api_tokens import bearer, new_token

LEAVER = ("g-001", "jt-gate-north", "gps-a")
STAYER = ("g-002", "jt-gate-east", "gps-b")


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def his_rows(engine: Engine) -> dict[str, int]:
    """Rows about g-001 in the tables the pipeline writes after a decision."""
    with Session(engine) as session:
        counts = {
            "alerts": session.scalar(
                select(func.count()).select_from(AlertRow).where(AlertRow.guard_id == "g-001")
            ),
            "outbox": session.scalar(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.subject == "g-001")
            ),
            "presence_states": session.scalar(
                select(func.count())
                .select_from(PresenceStateRow)
                .where(PresenceStateRow.guard_id == "g-001")
            ),
            "shifts": session.scalar(
                select(func.count()).select_from(ShiftRow).where(ShiftRow.guard_id == "g-001")
            ),
        }
    return {name: int(n or 0) for name, n in counts.items()}


def deliver_all(engine: Engine, when: datetime) -> None:
    with Session(engine) as session, session.begin():
        session.execute(
            update(OutboxRow).where(OutboxRow.delivered_at.is_(None)).values(delivered_at=when)
        )


def settle(runtime: PipelineRuntime[DecodeOutcome]) -> None:
    """Let the pipeline's thread run its ticks at the clock's new time."""
    for _ in range(3):
        assert runtime.wait_idle()
        time.sleep(0.15)


@pytest.fixture
def leaver_gone(engine: Engine, tmp_path: Path) -> tuple[Engine, Processor, ManualClock]:
    """08:00-08:35 through the pipeline: g-001 out on his leave 08:10-08:20, back at 08:20
    (not cancelled: due by 09:20), taken out of the site file at 08:25; g-002 on post."""
    load_site(engine, DAY_START - timedelta(hours=1), roster_site(tmp_path, [LEAVER, STAYER]))
    points = {post: post_points(engine, post) for _, post, _ in (LEAVER, STAYER)}
    clock = ManualClock(at(0))
    processor = Processor(engine, clock)
    processor.run_command(
        ApproveLeave("g-001", at(10), at(25), approved_by="jt-leader-a", approved_at=at(9))
    )
    for minute in range(0, 36):
        clock.set(at(minute + 0.1))
        if minute == 25:
            load_site(engine, clock.now(), roster_site(tmp_path, [STAYER]))
            read = processor.read_roster(quick=True)
            assert read is not None and processor.adopt_roster(read)
        fixes = [fix_at(STAYER[2], at(minute), points[STAYER[1]].inside)]
        if minute < 25:
            away = 10 <= minute < 20
            where = points[LEAVER[1]].outside if away else points[LEAVER[1]].inside
            fixes.append(fix_at(LEAVER[2], at(minute), where))
        processor.process_fixes(fixes)
    deliver_all(engine, clock.now())
    return engine, processor, clock


def test_erasure_waits_for_the_leave_cancellation_the_rules_still_owe(
    leaver_gone: tuple[Engine, Processor, ManualClock],
) -> None:
    engine, processor, clock = leaver_gone
    assert his_rows(engine)["alerts"] == 0
    runtime: PipelineRuntime[DecodeOutcome] = PipelineRuntime(processor, clock, lambda o: o)
    runtime.start()
    server = ApiServer(create_app(runtime, engine, clock))
    url = server.start()
    admin = bearer(new_token(engine, "admin", name="privacy officer"))
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            refused = http.post("/guards/g-001/erase", headers=admin)
            assert refused.status_code == 409
            detail = refused.json()["detail"]
            assert "the rules still have a decision to make about guard 'g-001'" in detail
            assert "due 2026-03-02T01:20:00+00:00" in detail  # 60 min after his return
            assert his_rows(engine) == {
                "alerts": 0,
                "outbox": 3,  # arrived, departed, returned
                "presence_states": 1,
                "shifts": 2,
            }

            clock.set(at(81))  # the hour to cancel is up: the rules decide
            settle(runtime)
            assert his_rows(engine)["alerts"] == 1
            assert http.post("/guards/g-001/erase", headers=admin).status_code == 409  # undelivered

            deliver_all(engine, clock.now())
            erased = http.post("/guards/g-001/erase", headers=admin)
            assert erased.status_code == 200
            assert erased.json()["erased"]["alerts"] == 1

            clock.set(at(240))  # hours later, the pipeline still running: nothing comes back
            settle(runtime)
            assert his_rows(engine) == {
                "alerts": 0,
                "outbox": 0,
                "presence_states": 0,
                "shifts": 0,
            }
    finally:
        server.stop()
        runtime.stop()
