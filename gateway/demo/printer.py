"""Readable terminal lines: events as the management core received them, and messages as a
leaders' group robot shows them."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["describe", "describe_robot"]

LABELS = {
    "presence.arrived": "arrived on post",
    "presence.departed": "LEFT THE POST",
    "presence.returned": "returned to post",
    "presence.device_resumed": "terminal heard again",
    "leave.cancelled": "leave cancelled (销假)",
    "alert.unreported_departure": "ALERT unreported departure (未报备离岗)",
    "alert.overtime_departure": "ALERT off post past the limit (离岗超时)",
    "alert.leave_overrun": "ALERT leave overrun",
    "alert.leave_not_cancelled": "ALERT leave not cancelled within 1 h",
    "alert.absent_at_shift_start": "ALERT absent at shift start",
    "alert.device_silent": "ALERT terminal silent",
    "alert.sos": "ALERT SOS",
    "patrol.checkpoint_scanned": "patrol checkpoint scanned",
    "alert.checkpoint_missed": "ALERT patrol checkpoint missed",
    "patrol.round_completed": "patrol round completed",
    "patrol.unknown_tag": "unknown tag scanned",
    "attendance.punch": "clock-in terminal punch (打卡)",
    "alert.late_clock_in": "ALERT late clock-in",
    "attendance.unknown_person": "unknown person at the terminal",
}


def describe(event: dict[str, Any], tz: ZoneInfo) -> str:
    """One line: local time of the happening, what, who, where, and the telling detail."""
    data: dict[str, Any] = event.get("data") or {}
    when = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).astimezone(tz)
    label = LABELS.get(str(event["type"]), str(event["type"]))
    who = f"{data.get('guard_name', '')} {event.get('subject', '')}".strip()
    where = data.get("post_name") or data.get("post_id") or ""
    detail = _detail(str(event["type"]), data, tz)
    flags = "".join(f" [{flag}]" for flag in ("backfilled", "late") if data.get(flag) is True)
    return f"{when:%H:%M:%S}  {_pad(label, 42)} {_pad(who, 12)} {_pad(where, 30)} {detail}{flags}"


def describe_robot(label: str, lines: list[str]) -> list[str]:
    """A group message as its members read it: ``[企业微信 A班组] <title>``, then its lines
    indented under it."""
    head, *rest = lines or [""]
    prefix = f"          [{label}] "
    indent = " " * _columns(prefix)
    return [prefix + head, *(indent + line for line in rest)]


def _columns(text: str) -> int:
    """Terminal columns of ``text`` (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    """Left-align ``text`` in ``width`` terminal columns (CJK characters take two)."""
    return text + " " * max(0, width - _columns(text))


def _detail(kind: str, data: dict[str, Any], tz: ZoneInfo) -> str:
    if kind == "presence.returned":
        return f"away {_minutes(data.get('duration_s'))}"
    if kind == "presence.departed":
        first = data.get("first_fix") or {}
        distance = first.get("distance_m")
        covered = (
            "reported" if data.get("report_id") else "on leave" if data.get("leave_id") else ""
        )
        out = f"{distance:.0f} m outside" if isinstance(distance, int | float) else ""
        return ", ".join(x for x in (out, covered) if x)
    if kind == "alert.overtime_departure":
        return f"off post {_minutes(data.get('off_post_s'))}, limit {_minutes(data.get('limit_s'))}"
    if kind == "alert.device_silent":
        return f"silent {_minutes(data.get('silent_s'))}"
    if kind == "alert.leave_not_cancelled":
        limit = _minutes(data.get("limit_s"))
        return f"back since {_clock(data.get('returned_at'), tz)}, no 销假 within {limit}"
    if kind == "leave.cancelled":
        return "in time" if data.get("in_time") else f"late by {_minutes(data.get('delay_s'))}"
    if kind in ("patrol.checkpoint_scanned", "alert.checkpoint_missed"):
        extra = ", late" if data.get("late") else ""
        extra += ", out of order" if data.get("out_of_order") else ""
        return f"{data.get('checkpoint_id', '?')}{extra}"
    if kind == "patrol.round_completed":
        return f"scanned {data.get('scanned')}, missed {data.get('missed')}"
    if kind in ("attendance.punch", "attendance.unknown_person"):
        terminal, pin = data.get("terminal_id", "?"), data.get("person_id")
        return f"{data.get('kind', '')} at {terminal} (PIN {pin})"
    if kind == "alert.absent_at_shift_start":
        return f"not on post {_minutes(data.get('grace_s'))} after the start"
    return ""


def _minutes(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "?"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _clock(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, str):
        return "?"
    return f"{datetime.fromisoformat(value.replace('Z', '+00:00')).astimezone(tz):%H:%M}"
