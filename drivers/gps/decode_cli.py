"""``guard-gateway decode``: run a codec over a file and print fixes and alarms as JSON lines.

How a file is cut into payloads (each payload is what one MQTT message would carry):

* ``json``, ``owntracks``, ``jt808-emqx``: the whole file when it is one JSON document (an
  object, a batch, an array); otherwise JSON Lines, one payload per non-empty line. For
  ``owntracks`` a line may also be ``<topic> <json>`` as printed by ``mosquitto_sub -v``; the
  topic then gives the device id.
* ``nmea``: the whole file is one payload (a receiver log); lines starting with ``#`` are
  comments (the convention of gpsd's test logs) and are skipped.
* ``jt808``: hex text is read line by line, one payload per non-empty line (a line may hold
  several frames; ``#`` lines are comments); anything else is a binary stream and is one payload.

Each fix is printed on ``out`` as one JSON object (:func:`fix_to_dict`); each alarm that came
without a usable position (an SOS from a terminal indoors) as one JSON object with ``"kind":
"alarm"`` (:func:`alarm_to_dict`); each reject as one line on ``err`` with its reason and the hex
of its bytes (cut at :data:`MAX_HEX_BYTES`), including OwnTracks messages that are no location
report (``OwnTracks transition: not a location report``). The exit code is 1 when there were
rejects and neither a fix nor an alarm, else 0 (an empty input, or only messages that need no
record, such as a JT/T 808 heartbeat, is not a failure).

Without ``device_id`` the input names its device where it can (see :func:`run_decode`).
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime
from typing import Any, TextIO

from drivers.gps.base import PayloadCodec
from drivers.gps.nmea import NmeaCodec
from drivers.gps.owntracks import OwnTracksCodec
from drivers.gps.registry import codec_for
from drivers.gps.topics import route_topic
from gateway.records import AlarmSignal, PositionFix, Rejected

__all__ = ["MAX_HEX_BYTES", "alarm_to_dict", "fix_to_dict", "run_decode", "split_payloads"]

MAX_HEX_BYTES = 64
_DEFAULT_DEVICE = "unknown"


def _iso_z(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def fix_to_dict(fix: PositionFix) -> dict[str, Any]:
    """The shared JSON shape of a fix (``fix_time`` ISO-8601 UTC with ``Z``; null = unknown)."""
    return {
        "device_id": fix.device_id,
        "fix_time": _iso_z(fix.fix_time),
        "lat": fix.lat,
        "lon": fix.lon,
        "accuracy_m": fix.accuracy_m,
        "speed_mps": fix.speed_mps,
        "course_deg": fix.course_deg,
        "altitude_m": fix.altitude_m,
        "satellites": fix.satellites,
        "alarms": sorted(alarm.value for alarm in fix.alarms),
        "battery_pct": fix.battery_pct,
    }


def alarm_to_dict(signal: AlarmSignal) -> dict[str, Any]:
    """The JSON shape of an alarm without a usable position: ``"kind": "alarm"`` tells it from a
    fix; ``lat``/``lon`` are the position the terminal put in the message, if any (not a fix)."""
    return {
        "kind": "alarm",
        "device_id": signal.device_id,
        "alarm_time": _iso_z(signal.alarm_time),
        "alarms": sorted(alarm.value for alarm in signal.alarms),
        "lat": signal.lat,
        "lon": signal.lon,
        "battery_pct": signal.battery_pct,
    }


def _reject_line(rejected: Rejected) -> str:
    data = rejected.raw
    hex_text = data[:MAX_HEX_BYTES].hex()
    if len(data) > MAX_HEX_BYTES:
        hex_text += f"... ({len(data)} bytes)"
    who = f" [{rejected.device_id}]" if rejected.device_id else ""
    return f"rejected{who}: {rejected.reason}: {hex_text}"


def _json_payloads(data: bytes, format_name: str) -> list[tuple[bytes, str | None]]:
    try:
        json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        pass
    else:
        return [(data, None)]
    payloads: list[tuple[bytes, str | None]] = []
    for line in data.splitlines():
        text = line.strip()
        if not text:
            continue
        if format_name == "owntracks" and not text.startswith((b"{", b"[")) and b" " in text:
            topic, _, rest = text.partition(b" ")
            route = route_topic(topic.decode("utf-8", errors="replace"))
            if route is not None and route.format_name == "owntracks":
                payloads.append((rest.strip(), route.device_hint))
                continue
        payloads.append((text, None))
    return payloads


def split_payloads(format_name: str, data: bytes) -> list[tuple[bytes, str | None]]:
    """Cut a file into ``(payload, device id or None)`` as the module docstring says."""
    if not data.strip():
        return []
    if format_name == "nmea":
        kept = [line for line in data.splitlines(keepends=True) if not line.startswith(b"#")]
        return [(b"".join(kept), None)]
    if format_name == "jt808":
        hex_chars = set((string.hexdigits + string.whitespace).encode("ascii"))
        lines = [ln for ln in data.splitlines() if ln.strip() and not ln.startswith(b"#")]
        if lines and all(all(b in hex_chars for b in ln) for ln in lines):
            return [(ln.strip(), None) for ln in lines]
        return [(data, None)]
    return _json_payloads(data, format_name)


def _codec(format_name: str) -> PayloadCodec:
    """The format's codec. NMEA's and OwnTracks' are told ``unknown`` for input that names no
    device: given as a topic it would refuse every tracker id before ``$`` and every payload
    ``topic`` field. The other formats must not get a made-up device id either, since the JSON
    codec refuses a payload whose ``device_id`` contradicts the given one."""
    if format_name == "nmea":
        return NmeaCodec(fallback_device=_DEFAULT_DEVICE, max_payload_bytes=None)
    if format_name == "owntracks":
        return OwnTracksCodec(fallback_device=_DEFAULT_DEVICE)
    return codec_for(format_name)


def run_decode(
    format_name: str,
    data: bytes,
    received_at: datetime,
    out: TextIO,
    err: TextIO,
    device_id: str | None = None,
) -> int:
    """Decode ``data`` as ``format_name``; print fixes and alarms on ``out``, rejects on ``err``.

    ``device_id`` stands for the topic's device id. Without it, an NMEA sentence's device is
    the tracker id before its ``$``, an OwnTracks payload's its ``topic`` field's
    ``<user>/<device>`` or its ``tid``; else ``unknown``. Returns the exit code: 1 if there were
    rejects and neither a fix nor an alarm, else 0.
    """
    codec = _codec(format_name)
    decoded = rejects = 0
    for payload, topic_device in split_payloads(format_name, data):
        outcome = codec.decode(payload, received_at, topic_device or device_id)
        for fix in outcome.fixes:
            out.write(json.dumps(fix_to_dict(fix), ensure_ascii=False) + "\n")
        for signal in outcome.alarms:
            out.write(json.dumps(alarm_to_dict(signal), ensure_ascii=False) + "\n")
        for rejected in outcome.rejects:
            err.write(_reject_line(rejected) + "\n")
        decoded += len(outcome.fixes) + len(outcome.alarms)
        rejects += len(outcome.rejects)
    return 1 if rejects and not decoded else 0
