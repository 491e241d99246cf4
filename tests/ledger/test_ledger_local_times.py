"""The workbook and the timelines show the site's wall clock, as a leader reads them.

The hand-computed day of tests/ledger/scenario.py (08:00-10:00 in Wuhan, 00:00-02:00 UTC):
the departure at 08:10 reads ``2026-03-02 08:10:00`` in the ``离岗 departures`` sheet, an
Excel datetime cell, not ``2026-03-02T00:10:00+00:00``; the zone is named once, in a note
above each sheet's header. Through ``guard-gateway ledger`` and ``GET /ledger?format=xlsx``,
on SQLite and PostgreSQL. The JSON keeps ISO 8601 with its offset.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from sqlalchemy import Engine

from gateway.api.app import create_app
from gateway.bootstrap import ApiServer
from gateway.cli import main
from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.records import DecodeOutcome
from tests.fixtures.api_tokens import bearer, new_token
from tests.ledger.scenario import DAY, at, drive_day

SITE = "wh-jiangtan-garden"
NOTE = "时间为项目点当地时间 times are the site's local time: Asia/Shanghai"
SHOWN = "yyyy-mm-dd hh:mm:ss"


def local(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{DAY}T{hhmm}:00")


DEPARTURES = [  # an empty cell reads back as None
    (DAY, "g-001", local("08:10"), local("08:20"), 10.0, "report", None, 10.0, None),
    (
        DAY,
        "g-001",
        local("08:40"),
        local("09:00"),
        20.0,
        "none",
        "alert.overtime_departure alert.unreported_departure",
        20.0,
        None,
    ),
    (DAY, "g-001", local("09:10"), local("09:40"), 30.0, "leave", None, 30.0, None),
]


def alerts(ids: list[str]) -> list[tuple[Any, ...]]:
    unreported, overtime = ids
    return [
        (
            DAY,
            "g-001",
            unreported,
            "alert.unreported_departure",
            local("08:40"),
            local("08:47"),
            "jt-leader-a",
            7.0,
            local("09:00"),
            "ended",
        ),
        (
            DAY,
            "g-001",
            overtime,
            "alert.overtime_departure",
            local("08:55"),
            None,
            None,
            None,
            local("09:00"),
            "ended",
        ),
    ]


@pytest.fixture
def day(engine: Engine, tmp_path: Path) -> Engine:
    drive_day(engine, tmp_path)
    return engine


def assert_local_workbook(book: openpyxl.Workbook, ledger: dict[str, Any]) -> None:
    """Every time a person reads in the item sheets is a local datetime cell shown as such."""
    g1 = next(g for g in ledger["guards"] if g["guard_id"] == "g-001")
    departures = book["离岗 departures"]
    rows = list(departures.iter_rows(values_only=True))
    assert rows[0] == (NOTE,) + (None,) * 8
    assert rows[1] == (
        "date",
        "guard_id",
        "started_at",
        "returned_at",
        "minutes",
        "coverage",
        "alerts",
        "minutes_in_day",
        "carried_from",
    )
    assert rows[2:] == DEPARTURES
    assert departures.freeze_panes == "A3"
    assert [departures.cell(row, 3).number_format for row in (3, 4, 5)] == [SHOWN] * 3

    rows = list(book["告警 alerts"].iter_rows(values_only=True))
    assert rows[0][0] == NOTE and rows[1][4] == "opened_at"
    assert rows[2:] == alerts([a["alert_id"] for a in g1["alerts"]])
    assert book["告警 alerts"].cell(3, 6).number_format == SHOWN  # acknowledged_at

    [leave] = g1["leaves"]
    rows = list(book["请假 leaves"].iter_rows(values_only=True))
    assert rows[0][0] == NOTE
    assert rows[2:] == [
        (
            DAY,
            "g-001",
            leave["leave_id"],
            local("09:10"),
            local("09:42"),
            "jt-leader-a",
            "cancelled",
            local("09:45"),
            True,
        )
    ]
    assert book["请假 leaves"].cell(3, 8).number_format == SHOWN  # cancelled_at
    # The per-guard sheet has no times: its layout is the CSV's.
    assert next(book["台账 ledger"].iter_rows(values_only=True))[0] == "日期 date"


def svg_title(svg: str) -> str | None:
    return ET.fromstring(svg).findtext("{http://www.w3.org/2000/svg}title")


def test_the_cli_workbook_and_timeline_read_in_beijing_time(
    day: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    out = tmp_path / "ledger"
    assert main(["ledger", DAY, "--site", SITE, "--out", str(out)]) == 0
    ledger = json.loads((out / f"ledger-{SITE}-{DAY}.json").read_text("utf-8"))
    # The JSON is for programs: ISO 8601 with its offset, as before.
    g1 = next(g for g in ledger["guards"] if g["guard_id"] == "g-001")
    assert g1["departures"][0]["started_at"] == "2026-03-02T00:10:00+00:00"
    assert ledger["timezone"] == "Asia/Shanghai"

    assert_local_workbook(openpyxl.load_workbook(out / f"ledger-{SITE}-{DAY}.xlsx"), ledger)
    svg = (out / "timelines" / f"{SITE}-{DAY}-g-001.svg").read_text("utf-8")
    assert svg_title(svg) == "张伟 (g-001) · 2026-03-02 (Asia/Shanghai)"


def test_the_api_workbook_reads_in_beijing_time(day: Engine) -> None:
    clock = ManualClock(at(24 * 60))
    runtime: PipelineRuntime[DecodeOutcome] = PipelineRuntime(
        Processor(day, clock), clock, lambda o: o
    )
    runtime.start()
    server = ApiServer(create_app(runtime, day, clock))
    url = server.start()
    admin = bearer(new_token(day))
    query = {"date": DAY, "site": SITE}
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            ledger = http.get("/ledger", params=query, headers=admin).json()
            as_xlsx = http.get("/ledger", params={**query, "format": "xlsx"}, headers=admin)
            assert as_xlsx.status_code == 200
            assert_local_workbook(openpyxl.load_workbook(io.BytesIO(as_xlsx.content)), ledger)
            picture = http.get(
                "/ledger/timeline", params={**query, "guard_id": "g-001"}, headers=admin
            )
            assert svg_title(picture.text) == "张伟 (g-001) · 2026-03-02 (Asia/Shanghai)"
    finally:
        server.stop()
        runtime.stop()
