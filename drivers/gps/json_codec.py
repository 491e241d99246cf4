"""The gateway's own JSON position schema (``devices/<device_id>/json``).

One position::

    {"time": "2026-03-01T08:15:30+08:00", "lat": 30.5928, "lon": 114.3055,
     "accuracy_m": 8.5, "speed_mps": 1.2, "course_deg": 270, "altitude_m": 23,
     "satellites": 9, "battery_pct": 76, "alarms": ["sos"], "device_id": "T-0042"}

``time`` is ISO-8601 *with* a zone (``Z`` or an offset) or epoch seconds (number); ``lat`` and
``lon`` are WGS-84 degrees. Every other field is optional. Positions stored while offline come
as a batch: ``{"fixes": [ ... ]}`` (optionally with a top-level ``device_id``) or a JSON array of
objects. Each item of a batch is judged alone: good items become fixes, bad ones rejects.

The device id is the topic's; a ``device_id`` field is only needed when the topic has none, and
when both are present they must agree (a payload cannot speak for another terminal).

An SOS is never lost for want of a position. A message whose ``alarms`` hold ``sos`` but whose
``lat``/``lon`` are missing, ``null`` or exactly 0,0 (a terminal indoors without a fix, or its
no-fix placeholder) becomes an :class:`~gateway.records.AlarmSignal` with its device time,
alarms, battery and raw text instead of a reject. A message with ``sos`` refused as a position
for any other reason (a coordinate out of range, a bad optional field) gives the reject *and*
the signal (with the message's coordinates when they are usable). The signal still needs the
device (a payload cannot raise an SOS for another terminal) and a readable ``time``. Other
alarms without a position stay rejects.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from drivers.gps.base import MAX_FIXES_PER_MESSAGE, check_position, identity_mismatch, load_json
from gateway.clock import utc
from gateway.errors import DecodeError
from gateway.records import Alarm, AlarmSignal, DecodeOutcome, PositionFix, Rejected

__all__ = ["GatewayJsonCodec", "parse_time"]

FORMAT_NAME = "json"

# Epoch seconds outside these years are almost always milliseconds or a clock never set.
_EPOCH_MIN = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
_EPOCH_MAX = datetime(2100, 1, 1, tzinfo=UTC).timestamp()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: float) -> float | None:
    """``value`` as a float, or ``None`` when it is none: NaN, infinite, or an integer too
    large for a float (JSON's integers have no bound; ``float()`` of one raises)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def parse_time(value: object) -> datetime:
    """Read ``time``: ISO-8601 with a zone, or epoch seconds. Raises :class:`DecodeError`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = _finite(value)
        if seconds is None or not _EPOCH_MIN <= seconds < _EPOCH_MAX:
            raise DecodeError(
                f"time {value!r} is not epoch seconds between 2000 and 2100 (milliseconds?)"
            )
        return datetime.fromtimestamp(seconds, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise DecodeError(f"time {value!r} is not ISO-8601") from exc
        if parsed.tzinfo is None:
            raise DecodeError(f"time {value!r} has no zone (add Z or an offset)")
        try:
            return utc(parsed)
        except OverflowError as exc:  # 0001-01-01T00:00+08:00 is a year before the first
            raise DecodeError(f"time out of range: {value!r}") from exc
    raise DecodeError(
        f"time must be an ISO-8601 string or epoch seconds, not {type(value).__name__}"
    )


def _number(
    obj: dict[str, Any], key: str, lo: float | None = None, hi: float | None = None
) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    kind = type(value)
    # Exact types first (the hot path); subclasses of int or float other than bool count too.
    if kind is not float and kind is not int and not _is_number(value):
        raise DecodeError(f"{key} must be a number, not {type(value).__name__}")
    number = _finite(value)
    if number is None:
        raise DecodeError(f"{key} is not finite")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise DecodeError(f"{key} {value} out of range [{lo}, {hi}]")
    return number


def _alarms(value: object) -> frozenset[Alarm]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise DecodeError(f"alarms must be a list of names, not {type(value).__name__}")
    alarms: set[Alarm] = set()
    for name in value:
        if not isinstance(name, str):
            raise DecodeError(f"alarm names must be strings, not {type(name).__name__}")
        try:
            alarms.add(Alarm(name.strip().lower()))
        except ValueError as exc:
            known = ", ".join(a.value for a in Alarm)
            raise DecodeError(f"unknown alarm {name!r} (known: {known})") from exc
    return frozenset(alarms)


class GatewayJsonCodec:
    """Codec for the gateway JSON schema (module docstring). Stateless."""

    format_name = FORMAT_NAME

    def decode(
        self, payload: bytes, received_at: datetime, device_hint: str | None = None
    ) -> DecodeOutcome:
        try:
            doc, text = load_json(payload)
        except DecodeError as exc:
            return DecodeOutcome(rejects=(Rejected(exc.reason, payload, device_hint),))
        received = utc(received_at)
        if isinstance(doc, dict) and "fixes" in doc:
            items = doc["fixes"]
            if not isinstance(items, list):
                return DecodeOutcome(
                    rejects=(Rejected("fixes must be a list of objects", payload, device_hint),)
                )
            outer = doc.get("device_id")
            if outer is not None and not isinstance(outer, str):
                return DecodeOutcome(
                    rejects=(Rejected("device_id must be a string", payload, device_hint),)
                )
            try:
                batch_hint = _agree(device_hint, outer)
            except DecodeError as exc:
                return DecodeOutcome(rejects=(Rejected(exc.reason, payload, device_hint),))
            return self._batch(items, received, batch_hint, payload)
        if isinstance(doc, list):
            return self._batch(doc, received, device_hint, payload)
        return self._one(doc, text, received, device_hint)

    def _batch(
        self, items: list[Any], received: datetime, hint: str | None, payload: bytes
    ) -> DecodeOutcome:
        if len(items) > MAX_FIXES_PER_MESSAGE:
            reason = f"batch too large ({len(items)} items, limit {MAX_FIXES_PER_MESSAGE})"
            return DecodeOutcome(rejects=(Rejected(reason, payload, hint),))
        fixes: list[PositionFix] = []
        rejects: list[Rejected] = []
        alarms: list[AlarmSignal] = []
        for item in items:
            text = _item_text(item)
            outcome = self._one(item, text, received, hint)
            fixes.extend(outcome.fixes)
            rejects.extend(outcome.rejects)
            alarms.extend(outcome.alarms)
        return DecodeOutcome(tuple(fixes), tuple(rejects), alarms=tuple(alarms))

    def _one(self, obj: object, text: str, received: datetime, hint: str | None) -> DecodeOutcome:
        raw = text.encode("utf-8")
        own = obj.get("device_id") if isinstance(obj, dict) else None
        if hint and isinstance(own, str) and own != hint:
            # Another device's fix or SOS: refused whole, before anything could be raised for it.
            return DecodeOutcome(rejects=(Rejected(identity_mismatch(own, hint), raw, hint),))
        try:
            fix = self._fix(obj, text, received, hint)
        except DecodeError as exc:
            try:
                signal = _sos_signal(obj, text, received, hint)
            except DecodeError as lost:
                return DecodeOutcome(rejects=(Rejected(lost.reason, raw, hint),))
            rejected = Rejected(exc.reason, raw, hint)
            if signal is None:
                return DecodeOutcome(rejects=(rejected,))
            if signal.lat is None and _no_position(obj):
                return DecodeOutcome(alarms=(signal,))  # the documented SOS without a fix
            return DecodeOutcome(rejects=(rejected,), alarms=(signal,))
        return DecodeOutcome(fixes=(fix,))

    def _fix(self, obj: object, text: str, received: datetime, hint: str | None) -> PositionFix:
        if not isinstance(obj, dict):
            raise DecodeError(f"a position must be a JSON object, not {type(obj).__name__}")
        for key in ("time", "lat", "lon"):
            if key not in obj or obj[key] is None:
                raise DecodeError(f"missing field {key!r}")
        own_id = obj.get("device_id")
        if own_id is not None and not isinstance(own_id, str):
            raise DecodeError("device_id must be a string")
        device_id = _agree(hint, own_id)
        if not device_id:
            raise DecodeError("no device id: the topic gives none and device_id is missing")
        lat = _number(obj, "lat")
        lon = _number(obj, "lon")
        assert lat is not None and lon is not None  # required above
        problem = check_position(lat, lon)
        if problem:
            raise DecodeError(problem)
        satellites = obj.get("satellites")
        if satellites is not None and (
            not isinstance(satellites, int) or isinstance(satellites, bool) or satellites < 0
        ):
            raise DecodeError("satellites must be a non-negative integer")
        return PositionFix(
            device_id=device_id,
            fix_time=parse_time(obj["time"]),
            received_at=received,
            lat=lat,
            lon=lon,
            accuracy_m=_number(obj, "accuracy_m", 0.0),
            speed_mps=_number(obj, "speed_mps", 0.0),
            course_deg=_number(obj, "course_deg", 0.0, 360.0),
            altitude_m=_number(obj, "altitude_m"),
            satellites=satellites,
            alarms=_alarms(obj.get("alarms")),
            battery_pct=_number(obj, "battery_pct", 0.0, 100.0),
            source_format=FORMAT_NAME,
            raw=text,
        )


def _item_text(item: object) -> str:
    """A batch item as compact JSON text, non-ASCII kept unless it cannot be UTF-8 (a lone
    surrogate from a ``\\ud800`` escape), which stays escaped."""
    text = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(item, separators=(",", ":"))
    return text


def _agree(hint: str | None, own: str | None) -> str | None:
    """The device id from the topic and from the payload, which must not contradict each other."""
    if hint and own and hint != own:
        raise DecodeError(identity_mismatch(own, hint))
    return hint or own


def _no_position(obj: object) -> bool:
    """Whether ``obj`` says "no fix": ``lat``/``lon`` missing or ``null``, or exactly 0,0."""
    if not isinstance(obj, dict):
        return False
    lat, lon = obj.get("lat"), obj.get("lon")
    if lat is None or lon is None:
        return True
    return _is_number(lat) and _is_number(lon) and lat == 0 and lon == 0


def _lenient_number(obj: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    try:
        return _number(obj, key, lo, hi)
    except DecodeError:
        return None


def _sos_signal(obj: object, text: str, received: datetime, hint: str | None) -> AlarmSignal | None:
    """The SOS of a message that is no fix, or ``None`` when it raises none (module docstring).

    Read leniently on purpose: an unknown alarm name or a bad battery value beside ``sos`` must
    not lose the SOS, nor a ``time`` missing, unreadable or impossible (a clock never set after
    a reboot sends ``0``): the SOS is then dated by its arrival, as a JT/T 808 one is. Only
    whose it is is required; without it :class:`DecodeError` says ``SOS not raised: ...`` (one
    counter for every lost SOS).
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("alarms"), list):
        return None
    names = {name.strip().lower() for name in obj["alarms"] if isinstance(name, str)}
    alarms = {alarm for alarm in Alarm if alarm.value in names}
    if Alarm.SOS not in alarms:
        return None
    own = obj.get("device_id")
    try:
        if own is not None and not isinstance(own, str):
            raise DecodeError("device_id must be a string")
        device_id = _agree(hint, own)
        if not device_id:
            raise DecodeError("no device id: the topic gives none and device_id is missing")
    except DecodeError as exc:
        raise DecodeError(f"SOS not raised: {exc.reason}") from exc
    try:
        alarm_time = parse_time(obj["time"]) if obj.get("time") is not None else received
    except DecodeError:
        alarm_time = received
    lat = _lenient_number(obj, "lat", -90.0, 90.0)
    lon = _lenient_number(obj, "lon", -180.0, 180.0)
    usable = lat is not None and lon is not None and check_position(lat, lon) is None
    return AlarmSignal(
        device_id=device_id,
        alarm_time=alarm_time,
        received_at=received,
        alarms=frozenset(alarms),
        lat=lat if usable else None,
        lon=lon if usable else None,
        battery_pct=_lenient_number(obj, "battery_pct", 0.0, 100.0),
        source_format=FORMAT_NAME,
        raw=text,
    )
