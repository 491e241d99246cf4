"""OwnTracks location messages (``owntracks/<user>/<device>``).

Only ``"_type": "location"`` is a position: ``lat``, ``lon`` and ``tst`` (epoch seconds) are
required; ``acc`` (m), ``alt`` (m), ``vel`` (km/h), ``cog`` (degrees) and ``batt`` (%, -1 =
unknown) are optional. Some firmwares send numbers as strings, which are accepted. Other types
(``transition``, ``waypoint``, ``lwt``, ``card``, ``status``...) are not positions and not errors
either: they give an empty outcome. ``encrypted`` payloads are rejected, since a location may
hide inside and the gateway has no key.

The device id is the topic's ``<user>/<device>``; without a topic (HTTP mode) the payload's
``topic`` field is used.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from drivers.gps.base import check_position
from gateway.clock import utc
from gateway.errors import DecodeError
from gateway.records import DecodeOutcome, PositionFix, Rejected

__all__ = ["OwnTracksCodec"]

FORMAT_NAME = "owntracks"
_KMH_TO_MPS = 1000.0 / 3600.0


def _num(obj: dict[str, Any], key: str, *, required: bool = False) -> float | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise DecodeError(f"missing field {key!r}")
        return None
    if isinstance(value, bool):
        raise DecodeError(f"{key} must be a number, not a boolean")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError as exc:
            raise DecodeError(f"{key} {value!r} is not a number") from exc
    if not isinstance(value, int | float):
        raise DecodeError(f"{key} must be a number, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise DecodeError(f"{key} is not finite")
    return number


def _device_from_topic_field(obj: dict[str, Any]) -> str | None:
    topic = obj.get("topic")
    if not isinstance(topic, str):
        return None
    parts = topic.split("/")
    if len(parts) >= 3 and parts[0] == "owntracks" and parts[1] and parts[2]:
        return f"{parts[1]}/{parts[2]}"
    return None


class OwnTracksCodec:
    """Codec for OwnTracks JSON (module docstring). Stateless."""

    format_name = FORMAT_NAME

    def decode(
        self, payload: bytes, received_at: datetime, device_hint: str | None = None
    ) -> DecodeOutcome:
        try:
            text = payload.decode("utf-8")
            obj = json.loads(text)
        except (UnicodeDecodeError, ValueError) as exc:
            return DecodeOutcome(rejects=(Rejected(f"not JSON: {exc}", payload, device_hint),))
        if not isinstance(obj, dict):
            return DecodeOutcome(
                rejects=(
                    Rejected("not an OwnTracks message (no JSON object)", payload, device_hint),
                )
            )
        kind = obj.get("_type")
        if kind == "encrypted":
            return DecodeOutcome(
                rejects=(
                    Rejected(
                        "encrypted OwnTracks payloads are not supported", payload, device_hint
                    ),
                )
            )
        if kind != "location":
            return DecodeOutcome()
        try:
            fix = self._fix(
                obj, text, utc(received_at), device_hint or _device_from_topic_field(obj)
            )
        except DecodeError as exc:
            return DecodeOutcome(rejects=(Rejected(exc.reason, payload, device_hint),))
        return DecodeOutcome(fixes=(fix,))

    def _fix(
        self, obj: dict[str, Any], text: str, received: datetime, device_id: str | None
    ) -> PositionFix:
        if not device_id:
            raise DecodeError("no device id: no owntracks/<user>/<device> topic")
        lat = _num(obj, "lat", required=True)
        lon = _num(obj, "lon", required=True)
        tst = _num(obj, "tst", required=True)
        assert lat is not None and lon is not None and tst is not None
        problem = check_position(lat, lon)
        if problem:
            raise DecodeError(problem)
        try:
            fix_time = datetime.fromtimestamp(tst, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise DecodeError(f"tst {tst} is not epoch seconds") from exc
        acc = _num(obj, "acc")
        vel = _num(obj, "vel")
        cog = _num(obj, "cog")
        batt = _num(obj, "batt")
        return PositionFix(
            device_id=device_id,
            fix_time=fix_time,
            received_at=received,
            lat=lat,
            lon=lon,
            accuracy_m=acc if acc is not None and acc >= 0 else None,
            speed_mps=vel * _KMH_TO_MPS if vel is not None and vel >= 0 else None,
            course_deg=cog if cog is not None and 0 <= cog <= 360 else None,
            altitude_m=_num(obj, "alt"),
            battery_pct=batt if batt is not None and 0 <= batt <= 100 else None,
            source_format=FORMAT_NAME,
            raw=text,
        )
