"""A night shift's records stay with the day it starts on, after midnight too.

g-001 keeps jt-gate-north 20:00-08:00 Asia/Shanghai every night; the night of 2 March runs
through the real pipeline (``Processor``, manual clock), one fix a minute: he clocks in at
19:58, phones a report at 00:59 and is out 01:00-01:10, is out on an approved leave
02:00-02:30 (approved to 02:32) and cancels it (销假) at 02:40, in time, and clocks out at
08:01. The ledger of 2 March holds the whole night (docs/ledger.md): the departures, and so
the report, the leave with its in-time cancellation, and both punches; 3 March holds none of
them (its own night has not begun). Before, the report, the leave and the check-out fell into
3 March by the calendar, where the leave's in-time cancellation was unknown (its event is
the 2 March shift's), and 2 March showed a departure on leave with no leave. Read by
``guard-gateway ledger`` (a run of the two days) and by ``GET /ledger``, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.api.app import create_app
from gateway.bootstrap import ApiServer
from gateway.cli import main
from gateway.clock import ManualClock
from gateway.db.models import LeaveRow
from gateway.pipeline.commands import ApproveLeave, CancelLeave, FileReport
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.records import DecodeOutcome, Punch, PunchKind
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, fix_at, post_points, roster_site
from tests.fixtures.api_tokens import bearer, new_token

SITE = "wh-jiangtan-garden"
GUARD = ("g-001", "jt-gate-north", "gps-a")
NIGHT = DAY_START + timedelta(hours=12)  # 20:00 local on 2 March
AWAY = ((300, 310), (360, 390))  # 01:00-01:10 reported, 02:00-02:30 on leave


def at(minutes: float) -> datetime:
    return NIGHT + timedelta(minutes=minutes)


def punch(minutes: float, kind: PunchKind) -> Punch:
    return Punch(
        terminal_id="zk-gate",
        person_id="1001",
        punched_at=at(minutes),
        received_at=at(minutes) + timedelta(seconds=1),
        kind=kind,
        source_format="zk-push",
    )


@pytest.fixture
def night(engine: Engine, tmp_path: Path) -> Engine:
    path = roster_site(tmp_path, [GUARD], hours={GUARD[0]: ("20:00", "08:00")})
    doc = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    site["guards"][0]["pin"] = "1001"
    site["devices"].append({"id": "zk-gate", "kind": "clock_in", "post": GUARD[1], "sn": "ZKN1"})
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_site_file(path, engine, DAY_START)
    points = post_points(engine, GUARD[1])
    clock = ManualClock(at(-5))
    processor = Processor(engine, clock)
    punches = {-2: punch(-2, PunchKind.CHECK_IN), 721: punch(721, PunchKind.CHECK_OUT)}
    for minute in range(-3, 725):
        clock.set(at(minute + 0.1))
        if minute == 299:
            processor.run_command(FileReport(GUARD[0], at(299), at(299), destination="shop"))
        if minute == 358:
            processor.run_command(
                ApproveLeave(
                    GUARD[0], at(360), at(392), approved_by="jt-leader-a", approved_at=at(358)
                )
            )
        if minute == 400:
            with Session(engine) as session:
                leave_id = session.scalars(select(LeaveRow.id)).one()
            processor.run_command(CancelLeave(leave_id, at(400)))
        fixes: tuple[Any, ...] = ()
        if 0 <= minute < 720:
            away = any(start <= minute < end for start, end in AWAY)
            where = points.outside if away else points.inside
            fixes = (fix_at(GUARD[2], at(minute), where),)
        found = (punches[minute],) if minute in punches else ()
        processor.process_outcomes([DecodeOutcome(fixes=fixes, punches=found)])
        processor.tick()
    return engine


def records_of(ledger: dict[str, Any]) -> dict[str, Any]:
    guard = next(g for g in ledger["guards"] if g["guard_id"] == GUARD[0])
    site = ledger["site"]
    return {
        "departures": [(d["started_at"], d["coverage"]) for d in guard["departures"]],
        "reports": [r["reported_at"] for r in guard["reports"]],
        "leaves": [(v["starts_at"], v["status"], v["cancelled_in_time"]) for v in guard["leaves"]],
        "punches": [(p["punched_at"], p["kind"]) for p in guard["punches"]],
        "totals": (site["leaves"], site["leaves_cancelled_in_time"], site["punches"]),
    }


THE_NIGHT = {
    "departures": [
        ("2026-03-02T17:00:00+00:00", "report"),
        ("2026-03-02T18:00:00+00:00", "leave"),
    ],
    "reports": ["2026-03-02T16:59:00+00:00"],  # 00:59 on 3 March, local
    "leaves": [("2026-03-02T18:00:00+00:00", "cancelled", True)],
    "punches": [
        ("2026-03-02T11:58:00+00:00", "check_in"),
        ("2026-03-03T00:01:00+00:00", "check_out"),  # 08:01 on 3 March, local
    ],
    "totals": (1, 1, 2),
}
NOTHING = {"departures": [], "reports": [], "leaves": [], "punches": [], "totals": (0, 0, 0)}


def test_the_cli_puts_the_whole_night_in_the_day_it_starts_on(
    night: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    out = tmp_path / "ledger"
    assert (
        main(["ledger", "2026-03-02", "--to", "2026-03-03", "--site", SITE, "--out", str(out)]) == 0
    )
    second = json.loads((out / f"ledger-{SITE}-2026-03-02.json").read_text("utf-8"))
    third = json.loads((out / f"ledger-{SITE}-2026-03-03.json").read_text("utf-8"))
    assert records_of(second) == THE_NIGHT
    assert records_of(third) == NOTHING


def test_the_api_puts_the_whole_night_in_the_day_it_starts_on(night: Engine) -> None:
    clock = ManualClock(at(24 * 60))
    runtime: PipelineRuntime[DecodeOutcome] = PipelineRuntime(
        Processor(night, clock), clock, lambda o: o
    )
    runtime.start()
    server = ApiServer(create_app(runtime, night, clock))
    url = server.start()
    admin = bearer(new_token(night))
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            for day, expected in (("2026-03-02", THE_NIGHT), ("2026-03-03", NOTHING)):
                answer = http.get("/ledger", params={"date": day, "site": SITE}, headers=admin)
                assert answer.status_code == 200
                assert records_of(answer.json()) == expected
    finally:
        server.stop()
        runtime.stop()
