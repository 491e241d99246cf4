"""One guard's data on request: exported whole, erased whole, and nobody else's touched.

Two guards of the sample site keep their posts through the real pipeline (positions, a
departure with its alerts and events, a verbal report); guard g-001's terminal also sends fixes
before his shift, which the gateway does not keep. Export and erasure go through the
``guard-gateway data`` CLI, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from gateway.api.app import create_app
from gateway.bootstrap import ApiServer
from gateway.cli import main
from gateway.clock import ManualClock
from gateway.db.auth_models import AuditRow
from gateway.db.models import AlertRow, PositionRow, PresenceStateRow, ReportRow, ShiftRow
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.commands import FileReport
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


def rows_of(engine: Engine, guard_id: str) -> Counter[str]:
    """How many rows of each table carry ``guard_id`` (the outbox: as subject)."""
    found: Counter[str] = Counter()
    with Session(engine) as session:
        for name, model, column in (
            ("positions", PositionRow, PositionRow.guard_id),
            ("reports", ReportRow, ReportRow.guard_id),
            ("alerts", AlertRow, AlertRow.guard_id),
            ("presence_states", PresenceStateRow, PresenceStateRow.guard_id),
            ("shifts", ShiftRow, ShiftRow.guard_id),
            ("outbox", OutboxRow, OutboxRow.subject),
        ):
            n = session.scalar(select(func.count()).select_from(model).where(column == guard_id))
            if n:
                found[name] = int(n)
    return found


def off_duty_fixes(engine: Engine, device_id: str) -> int:
    with Session(engine) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(PositionRow)
                .where(PositionRow.device_id == device_id, PositionRow.guard_id.is_(None))
            )
            or 0
        )


@pytest.fixture
def morning(engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """g-001 leaves his post for half an hour and reports it; g-002 stays on his."""
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    load_site(engine, DAY_START - timedelta(hours=1), roster_site(tmp_path, [LEAVER, STAYER]))
    points = {post: post_points(engine, post) for _, post, _ in (LEAVER, STAYER)}
    clock = ManualClock(at(-30))
    processor = Processor(engine, clock)
    for minute in (-30, -20, -10):  # his commute: before the shift, attributed to nobody
        clock.set(at(minute + 0.1))
        processor.process_fixes([fix_at(LEAVER[2], at(minute), points[LEAVER[1]].outside)])
    for minute in range(1, 41):
        clock.set(at(minute + 0.1))
        away = 10 < minute <= 30
        leaver_at = points[LEAVER[1]].outside if away else points[LEAVER[1]].inside
        processor.process_fixes(
            [
                fix_at(LEAVER[2], at(minute), leaver_at),
                fix_at(STAYER[2], at(minute), points[STAYER[1]].inside),
            ]
        )
    processor.run_command(FileReport("g-001", at(12), at(12), destination="pharmacy"))
    return engine


def test_export_then_erasure_of_one_guard(
    morning: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leaver, stayer = rows_of(morning, "g-001"), rows_of(morning, "g-002")
    assert leaver["positions"] == 40 and leaver["reports"] == 1 and leaver["alerts"] >= 1
    assert stayer["positions"] == 40 and stayer["reports"] == 0
    assert off_duty_fixes(morning, "gps-a") == 0  # his commute was never stored

    # Export: every row of his, one JSON line each, nothing of the other guard.
    out = tmp_path / "g-001.jsonl"
    assert main(["data", "export", "g-001", "-o", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    kinds = Counter(line["kind"] for line in lines)
    assert kinds["guard"] == 1
    assert kinds["position"] == 40
    assert kinds["report"] == 1 and kinds["alert"] == leaver["alerts"]
    assert kinds["event"] == leaver["outbox"]
    assert kinds["presence_state"] == leaver["presence_states"]
    assert kinds["shift"] == leaver["shifts"] == 9  # his roster line, 1-9 March
    assert all(line["row"].get("guard_id") in (None, "g-001") for line in lines)
    assert {line["row"]["device_id"] for line in lines if line["kind"] == "position"} == {"gps-a"}

    # Refused while he is in the roster: his shifts would bring his data back.
    capsys.readouterr()
    assert main(["data", "erase", "g-001", "--yes"]) == 1
    assert "remove him from the site file" in capsys.readouterr().err
    assert rows_of(morning, "g-001") == leaver

    # Out of the roster, but events about him not yet delivered: refused, with their number.
    load_site(morning, at(60), roster_site(tmp_path, [STAYER]))
    # His shift of 1 March had ended, and today's is cut short at the load (08:00-09:00):
    # both stay, the ledger's record, until he is erased.
    assert rows_of(morning, "g-001")["shifts"] == 2
    assert main(["data", "erase", "g-001", "--yes"]) == 1
    assert f"{leaver['outbox']} event(s) about guard 'g-001'" in capsys.readouterr().err
    assert main(["data", "erase", "g-001"]) == 2  # no confirmation, no erasure

    with Session(morning) as session, session.begin():
        session.execute(update(OutboxRow).values(delivered_at=at(61)))
    assert main(["data", "erase", "g-001", "--yes"]) == 0
    said = capsys.readouterr().out
    assert "positions: 40" in said and "reports: 1" in said and "shifts: 2" in said

    assert rows_of(morning, "g-001") == Counter()
    assert rows_of(morning, "g-002") == stayer  # the other guard's data untouched
    assert main(["data", "export", "g-001"]) == 1
    assert "no data about guard 'g-001'" in capsys.readouterr().err

    # Each request is in the audit log, as the operator at the command line.
    trail = audit_trail(morning, "g-001")
    assert [(row.action, row.token_id, row.role) for row in trail] == [
        ("data.export", "cli", "admin"),
        ("data.erase", "cli", "admin"),
        ("data.erase", "cli", "admin"),
        ("data.erase", "cli", "admin"),
    ]
    assert trail[0].target == {"records": dict(kinds), "complete": True}
    assert "remove him from the site file" in trail[1].target["refused"]
    assert "not delivered yet" in trail[2].target["refused"]
    assert trail[3].target["rows"]["positions"] == 40
    assert all(row.client and row.client.startswith("cli@") for row in trail)


def test_an_erasure_held_up_by_events_the_core_refused_says_so_and_names_the_retry(
    morning: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Events the core refused for their content are set aside and never sent again on their
    own: the erasure waiting on them says so, and how to send them again. Before, it said
    only that they were not delivered yet, and the operator waited for ever."""
    load_site(morning, at(60), roster_site(tmp_path, [STAYER]))
    waiting = rows_of(morning, "g-001")["outbox"]
    with Session(morning) as session, session.begin():
        first_two = (
            select(OutboxRow.seq)
            .where(OutboxRow.subject == "g-001")
            .order_by(OutboxRow.seq)
            .limit(2)
        )
        set_aside = update(OutboxRow).where(OutboxRow.seq.in_(first_two.scalar_subquery()))
        session.execute(set_aside.values(refused_at=at(50), last_error="HTTP 422: unknown type"))
    capsys.readouterr()

    assert main(["data", "erase", "g-001", "--yes"]) == 1
    assert capsys.readouterr().err == (
        f"refused: {waiting} event(s) about guard 'g-001' are not delivered yet, 2 of them "
        "refused by their destination for their content and set aside, never to be sent again "
        "on their own (`guard-gateway outbox refused` lists them): once the destination takes "
        "them, send them again with `guard-gateway outbox retry`, and erase once all are "
        "delivered\n"
    )

    # Sent again, they wait as any other: the refusal says only that.
    assert main(["outbox", "retry", "--all"]) == 0
    assert main(["data", "erase", "g-001", "--yes"]) == 1
    said = capsys.readouterr()
    assert "2 refused event(s) put back for delivery" in said.out
    assert said.err == (
        f"refused: {waiting} event(s) about guard 'g-001' are not delivered yet: erase once "
        "the management core and the robots have them\n"
    )

    with Session(morning) as session, session.begin():
        session.execute(update(OutboxRow).values(delivered_at=at(61)))
    assert main(["data", "erase", "g-001", "--yes"]) == 0
    assert rows_of(morning, "g-001") == Counter()


def settle(runtime: PipelineRuntime[DecodeOutcome]) -> None:
    """Let the pipeline's thread read the roster and run its ticks at the clock's time."""
    for _ in range(3):
        assert runtime.wait_idle()
        time.sleep(0.15)


def audit_trail(engine: Engine, guard_id: str) -> list[AuditRow]:
    with Session(engine, expire_on_commit=False) as session:
        rows = list(
            session.scalars(
                select(AuditRow).where(AuditRow.guard_id == guard_id).order_by(AuditRow.id)
            )
        )
        session.expunge_all()
        return rows


def test_the_api_exports_and_erases_for_admin_tokens_only(morning: Engine, tmp_path: Path) -> None:
    clock = ManualClock(at(60))
    runtime: PipelineRuntime[DecodeOutcome] = PipelineRuntime(
        Processor(morning, clock), clock, lambda o: o, roster_check_s=0.05
    )
    runtime.start()
    server = ApiServer(create_app(runtime, morning, clock))
    url = server.start()
    admin = bearer(new_token(morning, "admin", name="privacy officer"))
    others = [
        {},
        bearer(new_token(morning, "leader", name="leader a", sites=("wh-jiangtan-garden",))),
        bearer(new_token(morning, "integration", name="core")),
    ]
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            for headers in others:  # not even his own leader: 401 without a token, else 403
                for method, path in (("GET", "data"), ("POST", "erase")):
                    answer = http.request(method, f"/guards/g-001/{path}", headers=headers)
                    assert answer.status_code == (403 if headers else 401)

            exported = http.get("/guards/g-001/data", headers=admin)
            assert exported.status_code == 200
            assert exported.headers["content-type"].startswith("application/x-ndjson")
            kinds = Counter(json.loads(line)["kind"] for line in exported.text.splitlines())
            assert kinds["position"] == 40 and kinds["report"] == 1
            assert http.get("/guards/nobody/data", headers=admin).status_code == 404
            assert http.get(f"/guards/{'g' * 65}/data", headers=admin).status_code == 422

            refused = http.post("/guards/g-001/erase", headers=admin)
            assert refused.status_code == 409
            assert "remove him from the site file" in refused.json()["detail"]

            load_site(morning, at(60), roster_site(tmp_path, [STAYER]))
            settle(runtime)  # the running pipeline cuts his shift short at the load
            with Session(morning) as session, session.begin():
                session.execute(update(OutboxRow).values(delivered_at=at(60)))
            refused = http.post("/guards/g-001/erase", headers=admin)
            assert refused.status_code == 409
            assert "the rules still have a decision to make" in refused.json()["detail"]
            clock.set(at(75))  # they have made it: his terminal's wait after the cut is over
            settle(runtime)
            with Session(morning) as session, session.begin():
                session.execute(update(OutboxRow).values(delivered_at=at(75)))
            stayer = rows_of(morning, "g-002")
            erased = http.post("/guards/g-001/erase", headers=admin)
            assert erased.status_code == 200
            assert erased.json()["erased"]["positions"] == 40
            assert rows_of(morning, "g-001") == Counter()
            assert rows_of(morning, "g-002") == stayer
            assert http.post("/guards/g-001/erase", headers=admin).status_code == 404

            audit = http.get("/audit", params={"guard_id": "g-001"}, headers=admin).json()
            done = [(a["action"], a["token_name"]) for a in reversed(audit)]
            assert done == [
                ("data.export", "privacy officer"),
                ("data.erase", "privacy officer"),
                ("data.erase", "privacy officer"),
                ("data.erase", "privacy officer"),
            ]
    finally:
        server.stop()
        runtime.stop()
