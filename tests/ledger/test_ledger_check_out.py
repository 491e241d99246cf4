"""A fixed post seen only by its clock-in terminal (no GPS), in the ledger: the check-out (签退)
punched before the shift's end opens a departure (docs/presence-rules.md), and the ledger
reads it as the rules decided, through ``guard-gateway run``'s path (the ZKTeco PUSH
terminal of ``fwsim`` posting to the ``/iclock`` routes over HTTP, ``push_rig``), then the
ledger written by ``guard-gateway ledger`` and served by ``GET /ledger``, on SQLite and
PostgreSQL.

g-001 keeps the north gate; minutes are from 08:00 Asia/Shanghai on 2 March 2026 (00:00 UTC).
"""

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

from gateway.cli import main
from tests.fixtures.api_tokens import bearer, new_token
from tests.integration.test_attendance_push_in_run import (
    BREAK_OUT,
    CHECK_IN,
    CHECK_OUT,
    local,
    push_rig,
)

SITE = "wh-jiangtan-garden"
DAY = "2026-03-02"
GUARD = "g-001"
SVG = "{http://www.w3.org/2000/svg}"
MIN = 60.0
EIGHT_HOURS = [{"post": "jt-gate-north", "start": "08:00", "end": "16:00"}]


def _segments(svg_text: str) -> list[tuple[str, str, str, float]]:
    """(kind, start HH:MM UTC, end HH:MM UTC, minutes) of each segment of a timeline."""
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


def _guard(ledger: dict[str, Any]) -> dict[str, Any]:
    return next(g for g in ledger["guards"] if g["guard_id"] == GUARD)


def _cli_ledger(db_url: str, out: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    assert main(["ledger", DAY, "--site", SITE, "--out", str(out)]) == 0
    ledger: dict[str, Any] = json.loads(
        (out / f"ledger-{SITE}-{DAY}.json").read_text(encoding="utf-8")
    )
    return ledger


def test_a_check_out_at_14_00_of_08_00_16_00_is_six_hours_on_post_and_left_early(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In at 08:00, out at 14:00, never back: 6 h on post, 2 h away unreported (早退), the
    # unreported, overtime and left-early alerts; the two punches; no terminal silence.
    with push_rig(db_url, tmp_path, EIGHT_HOURS, gps=False) as rig:
        rig.run(
            range(-3, 485),
            {0: [(CHECK_IN, local(0))], 360: [(CHECK_OUT, local(360))]},
            lambda m: None,
        )
    out = tmp_path / "ledger"
    guard = _guard(_cli_ledger(db_url, out, monkeypatch))
    assert (guard["scheduled_s"], guard["on_post_s"], guard["away_unreported_s"]) == (
        480 * MIN,
        360 * MIN,
        120 * MIN,
    )
    assert [
        (d["started_at"][11:16], d["returned_at"], d["duration_s"], d["coverage"], d["alerts"])
        for d in guard["departures"]
    ] == [
        (
            "06:00",
            None,
            120 * MIN,
            "none",
            ["alert.left_early", "alert.overtime_departure", "alert.unreported_departure"],
        )
    ]
    assert [(a["type"], a["opened_at"][11:16]) for a in guard["alerts"]] == [
        ("alert.unreported_departure", "06:00"),
        ("alert.overtime_departure", "06:15"),
        ("alert.left_early", "08:00"),
    ]
    assert [(p["kind"], p["punched_at"][11:16]) for p in guard["punches"]] == [
        ("check_in", "00:00"),
        ("check_out", "06:00"),
    ]
    text = (out / f"ledger-{SITE}-{DAY}.csv").read_text(encoding="utf-8-sig")
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["guard_id"] == GUARD)
    assert (row["on_post_min"], row["away_unreported_min"], row["departures_unreported"]) == (
        "360.0",
        "120.0",
        "1",
    )
    book = openpyxl.load_workbook(out / f"ledger-{SITE}-{DAY}.xlsx")
    departures = list(book["离岗 departures"].iter_rows(min_row=3, values_only=True))
    assert [(r[1], str(r[2]), r[3], r[4], r[5]) for r in departures] == [
        (GUARD, "2026-03-02 14:00:00", None, 120.0, "none")
    ]
    svg = (out / "timelines" / f"{SITE}-{DAY}-{GUARD}.svg").read_text("utf-8")
    assert _segments(svg) == [
        ("on-post", "00:00", "06:00", 360.0),
        ("away-unreported", "06:00", "08:00", 120.0),
    ]


def test_a_check_out_before_a_double_shifts_change_is_away_until_the_second_ends(
    db_url: str, tmp_path: Path
) -> None:
    # 08:00-10:00 then 10:00-12:00 at the gate (连班): in at 07:58, out at 09:00, never back.
    # The second shift took the outing over and raised left early at 12:00. Before, the
    # ledger ended the outing at 10:00 and counted the whole second shift on post: 180 min
    # on post and 60 away for a guard who stood there one hour of four.
    double = [
        {"post": "jt-gate-north", "start": "08:00", "end": "10:00"},
        {"post": "jt-gate-north", "start": "10:00", "end": "12:00"},
    ]
    with push_rig(db_url, tmp_path, double, gps=False) as rig:
        rig.run(
            range(-3, 245),
            {-2: [(CHECK_IN, local(-2))], 60: [(CHECK_OUT, local(60))]},
            lambda m: None,
        )
        admin = bearer(new_token(rig.gateway.engine))
        with httpx.Client(base_url=rig.url, timeout=30) as http:
            query = {"date": DAY, "site": SITE}
            answer = http.get("/ledger", params=query, headers=admin)
            assert answer.status_code == 200
            guard = _guard(answer.json())
            picture = http.get(
                "/ledger/timeline", params={**query, "guard_id": GUARD}, headers=admin
            )
            assert picture.status_code == 200
    assert (guard["scheduled_s"], guard["on_post_s"], guard["away_unreported_s"]) == (
        240 * MIN,
        60 * MIN,
        180 * MIN,
    )
    [departure] = guard["departures"]
    assert (departure["started_at"][11:16], departure["returned_at"]) == ("01:00", None)
    assert departure["checked_out"] is True
    assert departure["duration_s"] == 180 * MIN
    assert _segments(picture.text) == [
        ("on-post", "00:00", "01:00", 60.0),
        ("away-unreported", "01:00", "02:00", 60.0),
        ("away-unreported", "02:00", "04:00", 120.0),
    ]


def test_a_break_out_before_the_early_check_out_is_a_reported_departure_with_its_report(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In at 08:00, break-out (外出) at 13:59, out at 14:00, never back: the break-out is his
    # report, so the departure is reported (its overtime at 14:15 and left early at 16:00
    # still stand). Before, the ledger counted the departure reported with no report in the
    # guard's reports: the report was a punch, and only typed-in reports have a row.
    with push_rig(db_url, tmp_path, EIGHT_HOURS, gps=False) as rig:
        rig.run(
            range(-3, 485),
            {
                0: [(CHECK_IN, local(0))],
                359: [(BREAK_OUT, local(359))],
                360: [(CHECK_OUT, local(360))],
            },
            lambda m: None,
        )
        covering = next(d["report_id"] for t, d in rig.events() if t == "presence.departed")
    ledger = _cli_ledger(db_url, tmp_path / "ledger", monkeypatch)
    guard = _guard(ledger)
    assert (guard["on_post_s"], guard["away_reported_s"], guard["away_unreported_s"]) == (
        360 * MIN,
        120 * MIN,
        0.0,
    )
    [departure] = guard["departures"]
    assert (departure["coverage"], departure["alerts"]) == (
        "report",
        ["alert.left_early", "alert.overtime_departure"],
    )
    assert [
        (r["report_id"], r["reported_at"][11:16], r["terminal_id"]) for r in guard["reports"]
    ] == [(covering, "05:59", "zk-gate")]
    site = ledger["site"]
    assert (site["departures_reported"], site["report_timeliness_rate"]) == (1, 1.0)
