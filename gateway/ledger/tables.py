"""The ledger as tables: one row per guard (CSV), and a workbook (XLSX) with that sheet plus
departures, alerts, leaves and the team and site totals.

Durations are minutes with one decimal in the tables: a leader compares them with the rules'
limits (15 minutes off post), and a 14.6-minute outing rounded to 15, or a 15.4-minute one
rounded to 15, would read as the wrong side of the limit; the JSON keeps seconds. Rates are
fractions (0.6667), formatted as percentages in the workbook.

Times in the workbook are the site's wall clock (``ledger["timezone"]``), as a leader reads
them: Excel datetime cells shown ``yyyy-mm-dd hh:mm:ss`` (Excel has no time zones), to the
second, the zone named once in a note above each sheet's header. The CSV has no times; the
JSON keeps ISO 8601 with the offset, for programs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font

from gateway.ledger.figures import totals

__all__ = ["DATETIME_FORMAT", "GUARD_COLUMNS", "guard_rows", "ledger_csv", "ledger_xlsx"]

DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
"""How the workbook shows a time: 2026-03-02 08:10:00, as a Chinese office writes it."""

GUARD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("date", "日期 date"),
    ("guard_id", "保安员 guard"),
    ("name", "姓名 name"),
    ("team", "班组 team"),
    ("shifts", "班次 shifts"),
    ("scheduled_min", "排班(分) scheduled min"),
    ("on_post_min", "在岗(分) on post min"),
    ("departures", "离岗 departures"),
    ("departures_reported", "已报备 reported"),
    ("departures_on_leave", "请假 on leave"),
    ("departures_unreported", "未报备 unreported"),
    ("away_reported_min", "报备离岗(分) away reported min"),
    ("away_on_leave_min", "请假离岗(分) away on leave min"),
    ("away_unreported_min", "未报备离岗(分) away unreported min"),
    ("report_timeliness_rate", "报告及时率 report timeliness"),
    ("leaves", "请假 leaves"),
    ("leaves_cancelled", "已销假 cancelled"),
    ("leaves_cancelled_in_time", "按时销假 cancelled in time"),
    ("alerts", "告警 alerts"),
    ("alerts_acknowledged", "已确认 acknowledged"),
    ("ack_latency_median_min", "确认用时中位(分) ack median min"),
    ("ack_latency_max_min", "确认用时最长(分) ack max min"),
    ("checkpoints_scanned", "巡更已到 checkpoints scanned"),
    ("checkpoints_late", "巡更迟到 late"),
    ("checkpoints_missed", "巡更漏检 missed"),
    ("rounds_completed", "完成轮次 rounds"),
    ("punches", "打卡 punches"),
)
_RATES = {"report_timeliness_rate"}


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60.0, 1)


_FIGURES = (
    "shifts",
    "scheduled_s",
    "on_post_s",
    "departures",
    "departures_reported",
    "departures_on_leave",
    "departures_unreported",
    "away_reported_s",
    "away_on_leave_s",
    "away_unreported_s",
    "report_timeliness_rate",
    "leaves",
    "leaves_cancelled",
    "leaves_cancelled_in_time",
    "alerts",
    "alerts_acknowledged",
    "ack_latency_median_s",
    "ack_latency_max_s",
    "checkpoints_scanned",
    "checkpoints_late",
    "checkpoints_missed",
    "rounds_completed",
    "punches",
)
"""The figures of a row, in column order; a duration (``*_s``) is written in minutes
(``*_min``)."""


def _row(date: str, who: dict[str, Any], sums: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"date": date, **who}
    for key in _FIGURES:
        if key.endswith("_s"):
            row[key.removesuffix("_s") + "_min"] = _minutes(sums[key])
        else:
            row[key] = sums[key]
    return row


def guard_rows(ledger: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per guard (keys: ``GUARD_COLUMNS``), then one per team and one for the site."""
    rows = []
    for guard in ledger["guards"]:
        who = {"guard_id": guard["guard_id"], "name": guard["name"], "team": guard["team"]}
        rows.append(_row(ledger["date"], who, totals([guard])))
    for team in ledger["teams"]:
        who = {"guard_id": "", "name": "班组合计 team total", "team": team["team"]}
        rows.append(_row(ledger["date"], who, team))
    who = {"guard_id": "", "name": "项目点合计 site total", "team": ""}
    rows.append(_row(ledger["date"], who, ledger["site"]))
    return rows


def ledger_csv(ledgers: Iterable[dict[str, Any]]) -> str:
    """The guard rows of one or more days' ledgers as CSV text (header = column keys,
    so a program reads it without knowing Chinese)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[key for key, _ in GUARD_COLUMNS], lineterminator="\n")
    writer.writeheader()
    for ledger in ledgers:
        for row in guard_rows(ledger):
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def _sheet(
    book: Workbook,
    title: str,
    header: list[str],
    rows: Iterable[list[Any]],
    note: str | None = None,
) -> None:
    """A sheet: ``note`` (if any) in its first row, then the bold header, frozen, then ``rows``;
    a ``datetime`` cell is shown as ``DATETIME_FORMAT``."""
    sheet = book.create_sheet(title)
    if note is not None:
        sheet.append([note])
    sheet.append(header)
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, datetime):
                cell.number_format = DATETIME_FORMAT
    sheet.freeze_panes = f"A{header_row + 1}"


def _zone_note(ledgers: list[dict[str, Any]]) -> str:
    zones = ", ".join(sorted({ledger["timezone"] for ledger in ledgers}))
    return f"时间为项目点当地时间 times are the site's local time: {zones}"


def _local(value: str | None, zone: ZoneInfo) -> datetime | None:
    """An ISO 8601 time of the ledger as the site's wall clock, to the second, without a zone
    (an Excel cell holds none: the sheet's note names it)."""
    if value is None:
        return None
    return datetime.fromisoformat(value).astimezone(zone).replace(tzinfo=None, microsecond=0)


def ledger_xlsx(ledgers: list[dict[str, Any]]) -> bytes:
    """A workbook: ``台账 ledger`` (the CSV's rows, headings in Chinese and English),
    ``离岗 departures``, ``告警 alerts`` and ``请假 leaves``, one row per item, their times
    in the site's zone (module docstring) under a note naming it."""
    note = _zone_note(ledgers)
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    keys = [key for key, _ in GUARD_COLUMNS]
    _sheet(
        book,
        "台账 ledger",
        [label for _, label in GUARD_COLUMNS],
        ([row[k] for k in keys] for ledger in ledgers for row in guard_rows(ledger)),
    )
    sheet = book["台账 ledger"]
    rate_column = keys.index("report_timeliness_rate") + 1
    for (cell,) in sheet.iter_rows(min_row=2, min_col=rate_column, max_col=rate_column):
        cell.number_format = "0.0%"
    _sheet(
        book,
        "离岗 departures",
        [
            "date",
            "guard_id",
            "started_at",
            "returned_at",
            "minutes",
            "coverage",
            "alerts",
            "minutes_in_day",
            "carried_from",
        ],
        (
            [
                ledger["date"],
                g["guard_id"],
                _local(d["started_at"], zone),
                _local(d["returned_at"], zone),
                _minutes(d["duration_s"]),
                d["coverage"],
                " ".join(d["alerts"]),
                _minutes(d["in_day_s"]),
                d["carried_from"],
            ]
            for ledger, zone in _zoned(ledgers)
            for g in ledger["guards"]
            for d in g["departures"]
        ),
        note,
    )
    _sheet(
        book,
        "告警 alerts",
        [
            "date",
            "guard_id",
            "alert_id",
            "type",
            "opened_at",
            "acknowledged_at",
            "acknowledged_by",
            "ack_minutes",
            "resolved_at",
            "resolution",
        ],
        (
            [
                ledger["date"],
                g["guard_id"],
                a["alert_id"],
                a["type"],
                _local(a["opened_at"], zone),
                _local(a["acknowledged_at"], zone),
                a["acknowledged_by"],
                _minutes(a["ack_latency_s"]),
                _local(a["resolved_at"], zone),
                a["resolution"],
            ]
            for ledger, zone in _zoned(ledgers)
            for g in ledger["guards"]
            for a in g["alerts"]
        ),
        note,
    )
    _sheet(
        book,
        "请假 leaves",
        [
            "date",
            "guard_id",
            "leave_id",
            "starts_at",
            "ends_at",
            "approved_by",
            "status",
            "cancelled_at",
            "cancelled_in_time",
        ],
        (
            [
                ledger["date"],
                g["guard_id"],
                v["leave_id"],
                _local(v["starts_at"], zone),
                _local(v["ends_at"], zone),
                v["approved_by"],
                v["status"],
                _local(v["cancelled_at"], zone),
                v["cancelled_in_time"],
            ]
            for ledger, zone in _zoned(ledgers)
            for g in ledger["guards"]
            for v in g["leaves"]
        ),
        note,
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _zoned(ledgers: list[dict[str, Any]]) -> Iterable[tuple[dict[str, Any], ZoneInfo]]:
    return ((ledger, ZoneInfo(ledger["timezone"])) for ledger in ledgers)
