"""The gateway's own JSON position payload, published on ``devices/<id>/json``.

One fix::

    {"time": "2024-05-01T08:00:00Z", "lat": 30.5928, "lon": 114.3055, "accuracy_m": 8.0,
     "speed_mps": 0.0, "course_deg": 0.0, "altitude_m": 25.0, "satellites": 9,
     "battery_pct": 95.0, "alarms": ["sos"]}

``alarms`` is present only when an alarm is raised; ``satellites`` and ``battery_pct`` are left
out when unknown. A message without a fix (an SOS pressed indoors) has no position at all:
``{"time": ..., "battery_pct": 80.0, "alarms": ["sos"]}``. A batch (positions stored while the
terminal had no network) is ``{"fixes": [<fix>, ...]}`` in fix-time order on the same topic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fwsim.gps.fix import SimFix

__all__ = ["encode_json", "encode_json_batch", "fix_to_json_object", "iso_utc", "json_topic"]


def json_topic(device_id: str, prefix: str = "devices") -> str:
    """The topic a JSON terminal publishes on."""
    return f"{prefix}/{device_id}/json"


def iso_utc(when: datetime) -> str:
    """ISO-8601 UTC with a ``Z`` suffix; milliseconds only when the time has a fraction."""
    t = when.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond // 1000:03d}"
    return text + "Z"


def fix_to_json_object(fix: SimFix) -> dict[str, Any]:
    """The JSON object of one fix (see the module docstring for the layout)."""
    if not fix.located:
        bare: dict[str, Any] = {"time": iso_utc(fix.time)}
        if fix.battery_pct is not None:
            bare["battery_pct"] = round(fix.battery_pct, 1)
        if fix.sos:
            bare["alarms"] = ["sos"]
        return bare
    obj: dict[str, Any] = {
        "time": iso_utc(fix.time),
        "lat": round(fix.lat, 7),
        "lon": round(fix.lon, 7),
        "accuracy_m": round(fix.accuracy_m, 1),
        "speed_mps": round(fix.speed_mps, 2),
        "course_deg": round(fix.course_deg, 1) % 360.0,
        "altitude_m": round(fix.altitude_m, 1),
    }
    if fix.satellites is not None:
        obj["satellites"] = fix.satellites
    if fix.battery_pct is not None:
        obj["battery_pct"] = round(fix.battery_pct, 1)
    if fix.sos:
        obj["alarms"] = ["sos"]
    return obj


def encode_json(fix: SimFix) -> bytes:
    """One fix as compact UTF-8 JSON."""
    return json.dumps(fix_to_json_object(fix), separators=(",", ":")).encode()


def encode_json_batch(fixes: Sequence[SimFix]) -> bytes:
    """Several fixes as ``{"fixes": [...]}`` in the given order."""
    body = {"fixes": [fix_to_json_object(f) for f in fixes]}
    return json.dumps(body, separators=(",", ":")).encode()
