"""The ledger's day window and the timeline's segments at the edges: a day with a daylight-saving
change, a guard who never arrives, one who leaves and is not back by the end of his shift."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from typing import Any

from gateway.ledger.collect import day_window
from gateway.ledger.timeline import guard_segments, timeline_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_the_day_is_the_sites_local_day_even_on_a_clock_change() -> None:
    assert day_window(date(2026, 3, 2), "Asia/Shanghai") == (
        datetime(2026, 3, 1, 16, tzinfo=UTC),
        datetime(2026, 3, 2, 16, tzinfo=UTC),
    )
    start, end = day_window(date(2026, 3, 29), "Europe/Berlin")  # clocks go forward: 23 hours
    assert (start, (end - start).total_seconds() / 3600) == (
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        23,
    )


def _guard(arrived: str | None, departures: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "guard_id": "g-1",
        "name": "",
        "shifts": [
            {
                "shift_id": "s",
                "post_id": "p",
                "starts_at": "2026-03-02T00:00:00+00:00",
                "ends_at": "2026-03-02T04:00:00+00:00",
                "arrived_at": arrived,
            }
        ],
        "departures": departures,
        "alerts": [],
    }


def _kinds(guard: dict[str, Any]) -> list[tuple[str, int]]:
    return [
        (kind, int((end - start).total_seconds() // 60))
        for kind, start, end in guard_segments(guard)
    ]


def test_a_guard_who_never_arrives_is_grey_for_the_whole_shift() -> None:
    guard = _guard(None, [])
    assert _kinds(guard) == [("not-arrived", 240)]
    root = ET.fromstring(timeline_svg(guard, "2026-03-02", "Asia/Shanghai"))
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "08:00" in labels and "12:00" in labels  # local hours along the bar


def test_a_guard_who_left_and_never_came_back_is_away_until_the_end() -> None:
    left = {
        "shift_id": "s",
        "started_at": "2026-03-02T03:00:00+00:00",
        "returned_at": None,
        "duration_s": 3600.0,
        "coverage": "none",
    }
    assert _kinds(_guard("2026-03-02T00:30:00+00:00", [left])) == [
        ("not-arrived", 30),
        ("on-post", 150),
        ("away-unreported", 60),
    ]


def test_the_summary_gives_minutes_as_the_tables_do_not_rounded_to_the_limit() -> None:
    # 14.6 minutes away unreported: rounded to whole minutes it read 15, the limit itself.
    guard = {
        **_guard("2026-03-02T00:00:00+00:00", []),
        "on_post_s": 13_524.0,
        "away_reported_s": 0.0,
        "away_unreported_s": 876.0,
        "away_on_leave_s": 1_800.0,
        "alerts": [
            {
                "type": "alert.unreported_departure",
                "shift_id": "s",
                "opened_at": "2026-03-02T00:52:26+00:00",
                "acknowledged_at": "2026-03-02T01:00:00+00:00",
                "ack_latency_s": 454.0,
            },
        ],
    }
    root = ET.fromstring(timeline_svg(guard, "2026-03-02", "Asia/Shanghai"))
    [summary] = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "summary"]
    assert summary == (
        "在岗 on post 225.4 min · 报备 reported 0 · 未报备 unreported 14.6 · 请假 leave 30 min · "
        "告警 alerts 1, 确认 acknowledged 1 (最长 max 7.6 min)"
    )
