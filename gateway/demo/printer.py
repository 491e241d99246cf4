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
    "alert.sos": "ALERT SOS (紧急求助)",
    "alert.device_left_behind": "ALERT device left behind (设备遗留在岗)",
    "alert.left_early": "ALERT left early (早退)",
    "alert.withdrawn": "alert withdrawn (告警撤销)",
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
    if kind == "patrol.unknown_tag":
        return f"tag {data.get('tag_id', '?')} ({data.get('technology', '?')})"
    if kind in ("attendance.punch", "attendance.unknown_person"):
        terminal, pin = data.get("terminal_id", "?"), data.get("person_id")
        return f"{data.get('kind', '')} at {terminal} (PIN {pin})"
    if kind == "alert.absent_at_shift_start":
        return f"not on post {_minutes(data.get('grace_s'))} after the start"
    if kind == "alert.device_left_behind":
        apart = data.get("apart_m")
        far = f", {apart:.0f} m apart" if isinstance(apart, int | float) else ""
        return (
            f"{data.get('left_device_id')} still on post since "
            f"{_clock(data.get('still_since'), tz)}, {data.get('away_device_id')} away{far}"
        )
    if kind == "alert.left_early":
        left, end = _clock(data.get("left_at"), tz), _clock(data.get("shift_end"), tz)
        return f"left at {left}, not back by the shift end {end}"
    if kind == "alert.withdrawn":
        return _withdrawn(data, tz)
    if kind == "alert.sos":
        return _sos(data)
    return ""


_SOS_POSITION = {
    "fix": "at its own fix",
    "fix_dropped": "its own fix, dropped by a filter",
    "terminal_last_known": "no fix: the terminal's last known position",
    "last_accepted": "no fix: the last accepted fix",
    "none": "no fix and no position known",
}


def _sos(data: dict[str, Any]) -> str:
    position = data.get("position")
    if not isinstance(position, dict):
        position = {}
    quality, age = position.get("quality"), position.get("age_s")
    text = _SOS_POSITION.get(str(quality), "")
    if quality == "last_accepted" and isinstance(age, int | float):
        text += f", {_minutes(age)} old"
    if data.get("on_duty") is False:
        text += ", off duty"
    return text


def _withdrawn(data: dict[str, Any], tz: ZoneInfo) -> str:
    what = str(data.get("withdrawn_type", "alert")).removeprefix("alert.").replace("_", " ")
    if data.get("reason") == "report_on_record":
        made, typed = _clock(data.get("reported_at"), tz), _clock(data.get("entered_at"), tz)
        return f"{what}: report made {made}, typed in {typed}"
    if data.get("reason") == "leave_on_record":
        return f"{what}: leave approved {_clock(data.get('approved_at'), tz)}"
    return f"{what}: {data.get('reason', '?')}"


def _minutes(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "?"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _clock(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, str):
        return "?"
    return f"{datetime.fromisoformat(value.replace('Z', '+00:00')).astimezone(tz):%H:%M}"
