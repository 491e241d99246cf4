"""A guard's day as a picture: one SVG bar per shift, coloured by where he was, with the alerts
marked where they were raised (and a tick where they were acknowledged).

Drawn from the guard's ledger row alone (``figures.guard_figures`` as JSON), so the picture
and the figures cannot disagree. Each segment is a ``<rect class="seg KIND">`` carrying
``data-start``, ``data-end`` (ISO 8601 UTC) and ``data-minutes``; each alert a
``<path class="alert">`` with ``data-type``: a program can read the picture back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

__all__ = ["SEGMENT_KINDS", "guard_lines", "guard_segments", "ledger_timeline", "timeline_svg"]

SEGMENT_KINDS: dict[str, tuple[str, str]] = {
    "on-post": ("#2e9d5b", "在岗 on post"),
    "away-reported": ("#f0a830", "报备离岗 away, reported"),
    "away-unreported": ("#d63b3b", "未报备离岗 away, unreported"),
    "away-leave": ("#4a7bd0", "请假 on leave"),
    "not-arrived": ("#b8b8b8", "未到岗 not arrived"),
}
_COVERAGE_KIND = {"report": "away-reported", "leave": "away-leave", "none": "away-unreported"}
WIDTH, LEFT, RIGHT, BAR_H, ROW_H, TOP = 960, 20, 20, 28, 64, 76


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


_IN_TIME_ORDER = {
    "shifts": "starts_at",
    "departures": "started_at",
    "alerts": "opened_at",
    "reports": "reported_at",
    "leaves": "starts_at",
    "punches": "punched_at",
}
"""A ledger line's lists, each with the time it is ordered by."""


def guard_lines(ledger: dict[str, Any], guard_id: str | None = None) -> list[dict[str, Any]]:
    """One line per guard of ``ledger`` (only ``guard_id``'s when given), in the ledger's order:
    a guard whose shift a load ended with him moved has a line of it beside his row's
    (``gateway.ledger.lines``); his picture of the day is drawn from both, his shifts, outings
    and alerts in time order and his durations summed."""
    by_guard: dict[str, list[dict[str, Any]]] = {}
    for line in ledger["guards"]:
        if guard_id is None or line["guard_id"] == guard_id:
            by_guard.setdefault(line["guard_id"], []).append(line)
    return [_merged(lines) for lines in by_guard.values()]


def _merged(lines: list[dict[str, Any]]) -> dict[str, Any]:
    if len(lines) == 1:
        return lines[0]
    merged = dict(lines[0])
    merged["name"] = next((line["name"] for line in lines if line["name"]), "")
    for key, value in lines[0].items():
        if key.endswith("_s") and isinstance(value, (int, float)):
            merged[key] = sum(line[key] or 0 for line in lines)
    for key, order in _IN_TIME_ORDER.items():
        merged[key] = sorted((x for line in lines for x in line[key]), key=lambda x: x[order])
    return merged


def guard_segments(
    guard: dict[str, Any], as_of: datetime | None = None
) -> list[tuple[str, datetime, datetime]]:
    """``(kind, start, end)`` covering each of the guard's shifts from start to end (or to
    ``as_of``, when the ledger was made before the end), in order."""
    segments: list[tuple[str, datetime, datetime]] = []
    for shift in guard["shifts"]:
        start, end = _t(shift["starts_at"]), _t(shift["ends_at"])
        if as_of is not None:
            end = max(start, min(end, as_of))
        arrived = _t(shift["arrived_at"]) if shift["arrived_at"] else end
        if arrived > start:
            segments.append(("not-arrived", start, min(arrived, end)))
        cursor = max(arrived, start)
        # An outing under way at a double shift's change goes on in the next shift, which
        # took it over: each shift draws the part of every outing that falls in it.
        outings = sorted(
            (
                d
                for d in guard["departures"]
                if _t(d["started_at"]) < end
                and _t(d["started_at"]) + timedelta(seconds=d["duration_s"]) > start
            ),
            key=lambda d: d["started_at"],
        )
        for dep in outings:
            began = _t(dep["started_at"])
            left = max(began, cursor)
            # The outing ends where it ends, not its length after the part drawn from: one
            # carried in from an earlier day's shift began before this bar.
            back = min(began + timedelta(seconds=dep["duration_s"]), end)
            if back <= left:
                continue
            if left > cursor:
                segments.append(("on-post", cursor, left))
            segments.append((_COVERAGE_KIND[dep["coverage"]], left, back))
            cursor = back
        if cursor < end:
            segments.append(("on-post", cursor, end))
    return segments


def timeline_svg(
    guard: dict[str, Any], date: str, timezone: str, as_of: datetime | None = None
) -> str:
    """The SVG document of one guard's day (times labelled in the site's ``timezone``, named in
    the title; the ``data-*`` attributes stay ISO 8601 UTC, for programs); a shift still
    running at ``as_of`` is drawn up to then, the rest of its bar left empty."""
    zone = ZoneInfo(timezone)
    shifts = guard["shifts"]
    rows = max(1, len(shifts))
    height = TOP + rows * ROW_H + 40
    # The bar's hours are the site's: named once, as the workbook's note does.
    title = f"{guard['name'] or guard['guard_id']} ({guard['guard_id']}) · {date} ({timezone})"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="20" font-size="16" font-weight="bold">{escape(title)}</text>',
    ]
    parts.append(
        f'<text class="summary" x="{LEFT}" y="38" fill="#333">{escape(_summary(guard))}</text>'
    )
    parts += _legend(height - 14)
    if not shifts:
        parts.append(f'<text x="{LEFT}" y="{TOP + 20}">无排班 no shift this day</text>')
    segments = guard_segments(guard, as_of)
    for index, shift in enumerate(shifts):
        start, end = _t(shift["starts_at"]), _t(shift["ends_at"])
        y = TOP + index * ROW_H
        span = max((end - start).total_seconds(), 1.0)

        def x_of(when: datetime, start: datetime = start, span: float = span) -> float:
            fraction = min(max((when - start).total_seconds() / span, 0.0), 1.0)
            return round(LEFT + fraction * (WIDTH - LEFT - RIGHT), 2)

        parts.append(f'<text x="{LEFT}" y="{y - 6}" fill="#444">{escape(shift["post_id"])}</text>')
        parts.append(
            f'<rect class="shift" x="{LEFT}" y="{y}" width="{WIDTH - LEFT - RIGHT}" '
            f'height="{BAR_H}" fill="#f4f4f4" stroke="#cccccc"/>'
        )
        for kind, left, right in segments:
            if left < start or right > end:
                continue
            minutes = round((right - left).total_seconds() / 60.0, 1)
            parts.append(
                f'<rect class="seg {kind}" x="{x_of(left)}" y="{y}" '
                f'width="{round(x_of(right) - x_of(left), 2)}" height="{BAR_H}" '
                f'fill="{SEGMENT_KINDS[kind][0]}" data-start={quoteattr(left.isoformat())} '
                f'data-end={quoteattr(right.isoformat())} data-minutes="{minutes}">'
                f"<title>{escape(SEGMENT_KINDS[kind][1])}: "
                f"{_local(left, zone)}-{_local(right, zone)} ({minutes} min)</title></rect>"
            )
        parts += _hour_ticks(start, end, zone, x_of, y + BAR_H)
        for alert in guard["alerts"]:
            opened = _t(alert["opened_at"])
            if not start <= opened <= end:
                continue
            x = x_of(opened)
            acked = "" if alert["acknowledged_at"] is None else alert["acknowledged_at"]
            parts.append(
                f'<path class="alert" d="M{x} {y - 2} l-6 -10 h12 z" fill="#111" '
                f"data-type={quoteattr(alert['type'])} data-opened={quoteattr(opened.isoformat())} "
                f"data-acknowledged={quoteattr(acked)}><title>{escape(alert['type'])} "
                f"{_local(opened, zone)}</title></path>"
            )
            if alert["acknowledged_at"] is not None:
                ax = x_of(_t(alert["acknowledged_at"]))
                parts.append(
                    f'<line class="ack" x1="{ax}" y1="{y - 12}" x2="{ax}" y2="{y - 2}" '
                    f'stroke="#111" stroke-width="2"><title>确认 acknowledged '
                    f"{_local(_t(alert['acknowledged_at']), zone)}</title></line>"
                )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _summary(guard: dict[str, Any]) -> str:
    """The day in one line: minutes on post and away by kind, alerts and their acknowledgement.

    Minutes as the tables give them, to one decimal (``.0`` left out): rounded to whole
    minutes, an outing of 14.6 would read 15, the wrong side of the 15-minute limit."""

    def minutes(key: str) -> str:
        return _minutes(float(guard.get(key) or 0.0))

    acked = [a for a in guard["alerts"] if a["acknowledged_at"] is not None]
    line = (
        f"在岗 on post {minutes('on_post_s')} min · 报备 reported {minutes('away_reported_s')} · "
        f"未报备 unreported {minutes('away_unreported_s')} · 请假 leave "
        f"{minutes('away_on_leave_s')} min · 告警 alerts {len(guard['alerts'])}, "
        f"确认 acknowledged {len(acked)}"
    )
    if acked:
        slowest = max(float(a["ack_latency_s"]) for a in acked)
        line += f" (最长 max {_minutes(slowest)} min)"
    return line


def _minutes(seconds: float) -> str:
    """``seconds`` in minutes to one decimal as the tables give them (``tables``), ``.0`` left
    out."""
    value = round(seconds / 60.0, 1)
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def ledger_timeline(ledger: dict[str, Any], guard: dict[str, Any]) -> str:
    """The timeline of ``guard``, one of ``ledger``'s guards, as of when the ledger was made."""
    as_of = datetime.fromisoformat(ledger["generated_at"])
    return timeline_svg(guard, ledger["date"], ledger["timezone"], as_of)


def _local(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).strftime("%H:%M")


def _hour_ticks(start: datetime, end: datetime, zone: ZoneInfo, x_of: Any, y: float) -> list[str]:
    """A label on every whole local hour (every third one on a long shift)."""
    step = 1 if (end - start) <= timedelta(hours=12) else 3
    local = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    if local < start:
        local += timedelta(hours=1)
    ticks = []
    while local <= end:
        if local.hour % step == 0:
            x = x_of(local)
            ticks.append(
                f'<line x1="{x}" y1="{y}" x2="{x}" y2="{y + 4}" stroke="#666"/>'
                f'<text x="{x}" y="{y + 16}" text-anchor="middle" fill="#666">'
                f"{local.strftime('%H:%M')}</text>"
            )
        local += timedelta(hours=1)
    return ticks


def _legend(y: float) -> list[str]:
    items, x = [], float(LEFT)
    for colour, label in SEGMENT_KINDS.values():
        items.append(
            f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="{y}">{escape(label)}</text>'
        )
        x += 24 + 8 * len(label)
    items.append(f'<path d="M{x + 6} {y} l-6 -10 h12 z" fill="#111"/>')
    items.append(f'<text x="{x + 16}" y="{y}">告警 alert</text>')
    return items
