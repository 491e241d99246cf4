"""An outing carried over from a night shift into the same guard's day shift at the same post
(连班 across the morning: 20:00-08:00 then 08:00-20:00) is in both days' ledgers, each day
counting its own part of it: the night's day up to 08:00, the next day from 08:00.

g-001 keeps the north gate on the night of 1 March and the day of 2 March (the sample site
with its night shift, ``double_shift_site``); the gateway is fed through its pipeline
(``Processor``, manual clock, a fix a minute), the ledgers are written by ``guard-gateway
ledger`` for both days, on SQLite and PostgreSQL. He walks out at 07:30 of the night shift.
Before, the rules handed the outing over to the day shift, but the day's ledger listed no
departure: never back, it counted the whole day shift on post; back at 09:00, it counted 90
minutes away, the night's 30 among them.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from sqlalchemy import Engine

from gateway.cli import main
from gateway.clock import ManualClock
from gateway.pipeline.commands import FileReport
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import double_shift_site, load_sample_site, post_points
from tests.integration.test_pipeline_hard_cases import at, walk

SITE = "wh-jiangtan-garden"
GUARD = "g-001"
MIN = 60.0
NIGHT = f"{GUARD}/jt-gate-north/{at(-12 * 60):%Y%m%dT%H%M%SZ}"
DAY = f"{GUARD}/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"


def _sunday_night(tmp_path: Path) -> Path:
    """The sample site with g-001 also on Sunday night (1 March) at the north gate: his day
    shift of Monday 2 March continues it, and nothing continues that day shift."""
    doc: dict[str, Any] = yaml.safe_load(double_shift_site(tmp_path).read_text("utf-8"))
    for line in doc["sites"][0]["shifts"]:
        if line["guard"] == GUARD and line["start"] == "20:00":
            line["days"] = ["sun"]
    path = tmp_path / "sunday-night.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _ledgers(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    back: float | None,
    reported: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """On post from 06:25, out from 07:30 (a verbal report at 07:29 when ``reported``), back at
    minute ``back`` of the day shift (never when None), fixes to 20:00; g-001's rows of the
    ledgers of 1 and 2 March."""
    load_sample_site(engine, at(-120), _sunday_night(tmp_path))
    points = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-100))
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, -95, -30, every_s=60)
    if reported:
        clock.set(at(-30))
        processor.run_command(FileReport(guard_id=GUARD, reported_at=at(-31), received_at=at(-30)))
    if back is None:
        walk(processor, clock, points.outside, -30, 12 * 60, every_s=60)
    else:
        walk(processor, clock, points.outside, -30, back, every_s=60)
        walk(processor, clock, points.inside, back, 12 * 60, every_s=60)
    clock.set(at(12 * 60 + 1))
    processor.tick()
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    out = tmp_path / "ledger"
    assert (
        main(["ledger", "2026-03-01", "--to", "2026-03-02", "--site", SITE, "--out", str(out)]) == 0
    )
    rows = []
    for day in ("2026-03-01", "2026-03-02"):
        ledger = json.loads((out / f"ledger-{SITE}-{day}.json").read_text("utf-8"))
        rows.append(next(g for g in ledger["guards"] if g["guard_id"] == GUARD))
    return rows[0], rows[1]


def _departures(guard: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            d["shift_id"],
            d["started_at"][11:16],
            d["returned_at"] and d["returned_at"][11:16],
            d["duration_s"],
            d["in_day_s"],
            d["carried_from"],
            d["coverage"],
            d["alerts"],
        )
        for d in guard["departures"]
    ]


NIGHT_PART = [
    (
        NIGHT,
        "23:30",  # 07:30 local
        None,
        30 * MIN,
        30 * MIN,
        None,
        "none",
        ["alert.overtime_departure", "alert.unreported_departure"],
    )
]


def test_an_outing_from_07_30_never_back_is_away_the_whole_day_shift(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    night, day = _ledgers(engine, db_url, tmp_path, monkeypatch, back=None)
    # The day shift: away from its start to its end, the left early it raised at 20:00.
    assert (day["scheduled_s"], day["on_post_s"], day["away_unreported_s"]) == (
        720 * MIN,
        0.0,
        720 * MIN,
    )
    # The night's day: on post 06:25-07:30, away 07:30-08:00, as before.
    assert (night["on_post_s"], night["away_unreported_s"]) == (65 * MIN, 30 * MIN)
    assert _departures(night) == NIGHT_PART
    assert _departures(day) == [
        (DAY, "23:30", None, 750 * MIN, 720 * MIN, NIGHT, "none", ["alert.left_early"])
    ]
    assert [a["type"] for a in day["alerts"]] == ["alert.left_early"]


def test_an_outing_from_07_30_back_at_09_00_is_an_hour_away_in_the_day_shift(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    night, day = _ledgers(engine, db_url, tmp_path, monkeypatch, back=60)
    assert (day["on_post_s"], day["away_unreported_s"]) == (660 * MIN, 60 * MIN)
    assert (night["on_post_s"], night["away_unreported_s"]) == (65 * MIN, 30 * MIN)
    # The night's line shows when he came back (09:00, in the day shift), the whole outing's
    # length, and still counts only its 30 minutes in the night's day. Before, its return read
    # null: the return is the day shift's event, which the night's day did not read.
    assert _departures(night) == [
        (
            NIGHT,
            "23:30",
            "01:00",
            90 * MIN,
            30 * MIN,
            None,
            "none",
            ["alert.overtime_departure", "alert.unreported_departure"],
        )
    ]
    assert _departures(day) == [(DAY, "23:30", "01:00", 90 * MIN, 60 * MIN, NIGHT, "none", [])]
    svg = ET.fromstring(
        (tmp_path / "ledger" / "timelines" / f"{SITE}-2026-03-02-{GUARD}.svg").read_text("utf-8")
    )
    assert [
        (r.attrib["class"], r.attrib["data-start"][11:16], r.attrib["data-end"][11:16])
        for r in svg.iter("{http://www.w3.org/2000/svg}rect")
        if r.attrib.get("class", "").startswith("seg ")
    ] == [("seg away-unreported", "00:00", "01:00"), ("seg on-post", "01:00", "12:00")]


def test_a_reported_outing_carried_over_is_reported_in_the_day_shift_too(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    night, day = _ledgers(engine, db_url, tmp_path, monkeypatch, back=None, reported=True)
    assert (night["away_reported_s"], night["away_unreported_s"]) == (30 * MIN, 0.0)
    assert (day["on_post_s"], day["away_reported_s"], day["away_unreported_s"]) == (
        0.0,
        720 * MIN,
        0.0,
    )
    assert [(d["carried_from"], d["coverage"]) for d in day["departures"]] == [(NIGHT, "report")]


def test_the_carried_outing_counts_once_in_a_run_of_days(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Listed in both days, it is one departure: the night's, where it began and was judged;
    # the day shift's ledger counts its hour away and no departure of its own.
    _ledgers(engine, db_url, tmp_path, monkeypatch, back=60)
    text = (tmp_path / "ledger" / f"ledger-{SITE}-2026-03-01_2026-03-02.csv").read_text(
        encoding="utf-8-sig"
    )
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["guard_id"] == GUARD]
    assert [
        (r["date"], r["departures"], r["departures_unreported"], r["away_unreported_min"])
        for r in rows
    ] == [("2026-03-01", "1", "1", "30.0"), ("2026-03-02", "0", "0", "60.0")]
    book = openpyxl.load_workbook(tmp_path / "ledger" / f"ledger-{SITE}-2026-03-02.xlsx")
    listed = list(book["离岗 departures"].iter_rows(min_row=3, values_only=True))
    assert [(r[1], str(r[2]), str(r[3]), r[4], r[7], r[8]) for r in listed] == [
        (GUARD, "2026-03-02 07:30:00", "2026-03-02 09:00:00", 90.0, 60.0, NIGHT)
    ]
