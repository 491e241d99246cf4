"""The daily ledger of a hand-computed day (tests/ledger/scenario.py), run through the real
pipeline on SQLite and PostgreSQL: its figures, the files ``guard-gateway ledger`` writes (CSV
parsed, XLSX read back, SVG parsed as XML), and the scoped API."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
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
from gateway.ledger.service import day_ledger
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.records import DecodeOutcome
from tests.fixtures.api_tokens import bearer, new_token
from tests.ledger.scenario import DAY, at, drive_day

SITE = "wh-jiangtan-garden"
SVG = "{http://www.w3.org/2000/svg}"
MIN = 60.0


@pytest.fixture
def day(engine: Engine, tmp_path: Path) -> Engine:
    drive_day(engine, tmp_path)
    return engine


def _guard(ledger: dict[str, Any], guard_id: str) -> dict[str, Any]:
    return next(g for g in ledger["guards"] if g["guard_id"] == guard_id)


def test_figures_match_the_minutes_computed_by_hand(day: Engine) -> None:
    from datetime import date

    ledger = day_ledger(day, SITE, date.fromisoformat(DAY), at(24 * 60))
    assert ledger["window"] == {
        "from": "2026-03-01T16:00:00+00:00",  # local midnight, Asia/Shanghai
        "to": "2026-03-02T16:00:00+00:00",
    }
    assert [g["guard_id"] for g in ledger["guards"]] == ["g-001", "g-006"]
    g1 = _guard(ledger, "g-001")
    assert g1["scheduled_s"] == 120 * MIN
    assert g1["on_post_s"] == 60 * MIN
    assert (g1["away_reported_s"], g1["away_unreported_s"], g1["away_on_leave_s"]) == (
        10 * MIN,
        20 * MIN,
        30 * MIN,
    )
    assert [
        (d["started_at"][11:16], d["returned_at"][11:16], d["duration_s"], d["coverage"])
        for d in g1["departures"]
    ] == [
        ("00:10", "00:20", 10 * MIN, "report"),
        ("00:40", "01:00", 20 * MIN, "none"),
        ("01:10", "01:40", 30 * MIN, "leave"),
    ]
    assert g1["departures"][1]["alerts"] == [
        "alert.overtime_departure",
        "alert.unreported_departure",
    ]
    assert len(g1["reports"]) == 1
    [leave] = g1["leaves"]
    assert (leave["status"], leave["cancelled_at"], leave["cancelled_in_time"]) == (
        "cancelled",
        "2026-03-02T01:45:00+00:00",
        True,
    )
    assert [(a["type"], a["ack_latency_s"]) for a in g1["alerts"]] == [
        ("alert.unreported_departure", 7 * MIN),
        ("alert.overtime_departure", None),
    ]
    g6 = _guard(ledger, "g-006")
    assert (g6["on_post_s"], g6["departures"], g6["alerts"]) == (120 * MIN, [], [])

    site = ledger["site"]
    assert site["guards"] == 2 and site["shifts"] == 2
    assert (site["scheduled_s"], site["on_post_s"]) == (240 * MIN, 180 * MIN)
    assert site["on_post_rate"] == 0.75
    assert (
        site["departures"],
        site["departures_reported"],
        site["departures_on_leave"],
        site["departures_unreported"],
        site["departures_assessed"],
    ) == (3, 1, 1, 1, 3)
    assert site["report_timeliness_rate"] == 0.6667  # 2 covered of 3 assessed
    assert (site["leaves"], site["leaves_cancelled"], site["leaves_cancelled_in_time"]) == (1, 1, 1)
    assert (site["alerts"], site["alerts_acknowledged"], site["acknowledgement_rate"]) == (
        2,
        1,
        0.5,
    )
    assert (site["ack_latency_median_s"], site["ack_latency_max_s"]) == (7 * MIN, 7 * MIN)
    assert (site["punches"], site["checkpoints_missed"], site["patrol_completion_rate"]) == (
        0,
        0,
        None,
    )
    teams = {t["team"]: t for t in ledger["teams"]}
    assert sorted(teams) == ["A", "B"]
    assert teams["A"]["report_timeliness_rate"] == 0.6667 and teams["A"]["on_post_s"] == 60 * MIN
    assert teams["B"]["report_timeliness_rate"] is None and teams["B"]["on_post_s"] == 120 * MIN


def _segments(svg_text: str) -> list[tuple[str, str, str, float]]:
    root = ET.fromstring(svg_text)
    return [
        (
            rect.attrib["class"].removeprefix("seg "),
            rect.attrib["data-start"][11:16],
            rect.attrib["data-end"][11:16],
            float(rect.attrib["data-minutes"]),
        )
        for rect in root.iter(f"{SVG}rect")
        if rect.attrib.get("class", "").startswith("seg ")
    ]


EXPECTED_SEGMENTS = [
    ("on-post", "00:00", "00:10", 10.0),
    ("away-reported", "00:10", "00:20", 10.0),
    ("on-post", "00:20", "00:40", 20.0),
    ("away-unreported", "00:40", "01:00", 20.0),
    ("on-post", "01:00", "01:10", 10.0),
    ("away-leave", "01:10", "01:40", 30.0),
    ("on-post", "01:40", "02:00", 20.0),
]


def test_the_cli_writes_json_csv_xlsx_and_timelines(
    day: Engine,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    out = tmp_path / "ledger"
    assert main(["ledger", DAY, "--to", "2026-03-03", "--site", SITE, "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert said.err.splitlines() == [
        f"ledger 1/2 (50%): {SITE} 2026-03-02, 2 guard(s)",
        f"ledger 2/2 (100%): {SITE} 2026-03-03, 2 guard(s)",
    ]
    # 2 days x (json, csv, xlsx, 2 timelines) + the run's csv and xlsx
    assert "12 file(s) for 2 day(s) of 1 site(s)" in said.out

    ledger = json.loads((out / f"ledger-{SITE}-{DAY}.json").read_text("utf-8"))
    assert ledger["site"]["report_timeliness_rate"] == 0.6667

    rows = list(
        csv.DictReader(io.StringIO((out / f"ledger-{SITE}-{DAY}.csv").read_text("utf-8-sig")))
    )
    assert [r["guard_id"] or r["name"] for r in rows] == [
        "g-001",
        "g-006",
        "班组合计 team total",
        "班组合计 team total",
        "项目点合计 site total",
    ]
    g1 = rows[0]
    assert (g1["on_post_min"], g1["away_reported_min"], g1["away_unreported_min"]) == (
        "60.0",
        "10.0",
        "20.0",
    )
    assert (g1["away_on_leave_min"], g1["departures"], g1["departures_unreported"]) == (
        "30.0",
        "3",
        "1",
    )
    assert (g1["ack_latency_median_min"], g1["leaves_cancelled_in_time"]) == ("7.0", "1")
    assert rows[-1]["report_timeliness_rate"] == "0.6667"

    book = openpyxl.load_workbook(out / f"ledger-{SITE}-{DAY}.xlsx")
    assert book.sheetnames == ["台账 ledger", "离岗 departures", "告警 alerts", "请假 leaves"]
    sheet = list(book["台账 ledger"].iter_rows(values_only=True))
    assert sheet[0][1] == "保安员 guard" and len(sheet) == 6
    assert sheet[1][1:3] == ("g-001", "张伟") and sheet[1][6] == 60.0
    assert sheet[5][14] == 0.6667
    # Item sheets: the zone's note, the header, then the rows.
    departures = list(book["离岗 departures"].iter_rows(values_only=True))[2:]
    assert [(d[4], d[5]) for d in departures] == [(10.0, "report"), (20.0, "none"), (30.0, "leave")]
    alerts = list(book["告警 alerts"].iter_rows(values_only=True))[2:]
    assert [(a[3], a[7]) for a in alerts] == [
        ("alert.unreported_departure", 7.0),
        ("alert.overtime_departure", None),
    ]
    run_rows = list(book_rows(out / f"ledger-{SITE}-2026-03-02_2026-03-03.xlsx"))
    assert len(run_rows) == 1 + 5 + 5  # header, then each day's guards, teams and site

    svg = (out / "timelines" / f"{SITE}-{DAY}-g-001.svg").read_text("utf-8")
    assert _segments(svg) == EXPECTED_SEGMENTS
    marks = [
        (
            p.attrib["data-type"],
            p.attrib["data-opened"][11:16],
            p.attrib["data-acknowledged"][11:16],
        )
        for p in ET.fromstring(svg).iter(f"{SVG}path")
        if p.attrib.get("class") == "alert"
    ]
    assert marks == [
        ("alert.unreported_departure", "00:40", "00:47"),
        ("alert.overtime_departure", "00:55", ""),
    ]
    summary = next(t for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("class") == "summary")
    assert summary.text == (
        "在岗 on post 60 min · 报备 reported 10 · 未报备 unreported 20 · 请假 leave 30 min · "
        "告警 alerts 2, 确认 acknowledged 1 (最长 max 7 min)"
    )
    quiet = (out / "timelines" / f"{SITE}-{DAY}-g-006.svg").read_text("utf-8")
    assert _segments(quiet) == [("on-post", "00:00", "02:00", 120.0)]

    assert main(["ledger", DAY, "--site", "nowhere", "--out", str(out)]) == 1
    assert "unknown site 'nowhere'" in capsys.readouterr().err
    assert main(["ledger", "2026-03-03", "--to", DAY, "--out", str(out)]) == 1
    assert "--to 2026-03-02 is before 2026-03-03" in capsys.readouterr().err


def book_rows(path: Path) -> list[tuple[Any, ...]]:
    return list(openpyxl.load_workbook(path)["台账 ledger"].iter_rows(values_only=True))


def test_the_api_serves_a_leader_his_own_guards_only(day: Engine) -> None:
    clock = ManualClock(at(24 * 60))
    runtime: PipelineRuntime[DecodeOutcome] = PipelineRuntime(
        Processor(day, clock), clock, lambda o: o
    )
    runtime.start()
    server = ApiServer(create_app(runtime, day, clock))
    url = server.start()
    admin = bearer(new_token(day))
    team_a = bearer(new_token(day, "leader", name="a", sites=(SITE,), teams=("A",)))
    elsewhere = bearer(new_token(day, "leader", name="x", sites=("other-site",)))
    query = {"date": DAY, "site": SITE}
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/ledger", params=query).status_code == 401
            full = http.get("/ledger", params=query, headers=admin).json()
            assert [g["guard_id"] for g in full["guards"]] == ["g-001", "g-006"]
            assert full["site"]["on_post_s"] == 180 * MIN

            mine = http.get("/ledger", params=query, headers=team_a).json()
            assert [g["guard_id"] for g in mine["guards"]] == ["g-001"]
            assert [t["team"] for t in mine["teams"]] == ["A"]
            assert mine["site"]["on_post_s"] == 60 * MIN and mine["site"]["guards"] == 1

            assert http.get("/ledger", params=query, headers=elsewhere).status_code == 404
            unknown = {"date": DAY, "site": "nowhere"}
            assert http.get("/ledger", params=unknown, headers=admin).status_code == 404
            for bad in ("2026-13-01", "0001-01-01", "9999-12-31"):
                answer = http.get("/ledger", params={**query, "date": bad}, headers=admin)
                assert answer.status_code == 422

            as_csv = http.get("/ledger", params={**query, "format": "csv"}, headers=team_a)
            assert as_csv.headers["content-type"].startswith("text/csv")
            assert as_csv.content.startswith("\ufeffdate,".encode())  # Excel's cue for UTF-8
            csv_rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
            assert [r["guard_id"] for r in csv_rows] == ["g-001", "", ""]
            as_xlsx = http.get("/ledger", params={**query, "format": "xlsx"}, headers=admin)
            book = openpyxl.load_workbook(io.BytesIO(as_xlsx.content))
            assert len(list(book["台账 ledger"].iter_rows())) == 6

            picture = http.get(
                "/ledger/timeline", params={**query, "guard_id": "g-001"}, headers=team_a
            )
            assert picture.headers["content-type"] == "image/svg+xml"
            assert _segments(picture.text) == EXPECTED_SEGMENTS
            hidden = http.get(
                "/ledger/timeline", params={**query, "guard_id": "g-006"}, headers=team_a
            )
            assert hidden.status_code == 404  # not his team: as if it did not exist
    finally:
        server.stop()
        runtime.stop()


def test_a_ledger_made_during_the_shift_counts_only_the_time_so_far(day: Engine) -> None:
    from datetime import date

    from gateway.ledger.timeline import ledger_timeline

    ledger = day_ledger(day, SITE, date.fromisoformat(DAY), at(50))  # 08:50, mid-outing
    g1 = _guard(ledger, "g-001")
    # 50 minutes so far: 10 away reported, 10 of the unreported outing (40-50), 30 on post.
    assert (g1["on_post_s"], g1["away_reported_s"], g1["away_unreported_s"]) == (
        30 * MIN,
        10 * MIN,
        10 * MIN,
    )
    assert _guard(ledger, "g-006")["on_post_s"] == 50 * MIN
    assert ledger["site"]["scheduled_s"] == 240 * MIN  # the roster, whole
    assert _segments(ledger_timeline(ledger, g1)) == [
        *EXPECTED_SEGMENTS[:3],
        ("away-unreported", "00:40", "00:50", 10.0),
    ]
