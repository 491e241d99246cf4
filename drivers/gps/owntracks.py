"""OwnTracks messages (``owntracks/<user>/<device>``).

Only ``"_type": "location"`` is a position: ``lat``, ``lon`` and ``tst`` (epoch seconds) are
required; ``acc`` (m), ``alt`` (m), ``vel`` (km/h), ``cog`` (degrees) and ``batt`` (%, -1 =
unknown) are optional. Some firmwares send numbers as strings, which are accepted.

``"_type": "lwt"`` gives nothing and is no error: it is the app's last will, which the broker
publishes on the base topic whenever the phone's connection drops (a lift, a basement); the
pipeline counts it as ``ignored.no_record``, not as a rejected input.

Every other message is rejected with a stated reason, so it is seen (on the ``decode`` command's
error stream) and counted (the pipeline counts a reject under the words of its reason before the
first ``:``), never silently dropped. The reasons name the kind of message and not the terminal's
fault, one counter per kind, and never quote the payload, so a sender cannot mint counters:

* a documented type (``transition``, ``waypoint``, ``waypoints``, ``card``, ``status``,
  ``cmd``, ...): ``OwnTracks transition: not a location report``;
* any other ``_type``: ``OwnTracks unknown type: 'x' is not a location report``;
* no ``_type``: ``OwnTracks untyped message: no _type, not a location report``;
* ``encrypted``: ``OwnTracks encrypted payload: ...`` (a location may hide inside and the
  gateway has no key).

The device id is the topic's ``<user>/<device>``. Without a topic (HTTP mode, or a file given to
the ``decode`` command) the payload names it: its ``topic`` field (``owntracks/<user>/<device>``
gives ``<user>/<device>``), else its ``tid`` (tracker id), else ``fallback_device``. When the
topic and the payload's ``topic`` field name different devices the message is rejected: a
terminal may speak only for itself. ``tid`` is a display label, not an identity, and is never
compared.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from drivers.gps.base import check_position, identity_mismatch, load_json
from gateway.clock import utc
from gateway.errors import DecodeError
from gateway.records import DecodeOutcome, PositionFix, Rejected

__all__ = ["OwnTracksCodec"]

FORMAT_NAME = "owntracks"
_KMH_TO_MPS = 1000.0 / 3600.0
_NOT_A_LOCATION = "not a location report"
# The message types of the OwnTracks JSON format (booklet, tech/json) other than location and
# encrypted, plus the Android configuration dump.
_OTHER_TYPES = frozenset(
    {
        "beacon",
        "card",
        "cmd",
        "configuration",
        "dump",
        "request",
        "status",
        "steps",
        "transition",
        "waypoint",
        "waypoints",
    }
)


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
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float (JSON's have no bound)
        number = math.inf
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


def _tid(obj: dict[str, Any]) -> str | None:
    tid = obj.get("tid")
    if isinstance(tid, str) and tid.strip():
        return tid.strip()
    return None


def _not_a_location(kind: object) -> str | None:
    """Why a message of ``_type`` ``kind`` is no position, or ``None`` for a location."""
    if kind == "location":
        return None
    if kind == "encrypted":
        return "OwnTracks encrypted payload: not supported, payload encryption must be off"
    if not isinstance(kind, str) or not kind:
        return f"OwnTracks untyped message: no _type, {_NOT_A_LOCATION}"
    if kind in _OTHER_TYPES:
        return f"OwnTracks {kind}: {_NOT_A_LOCATION}"
    # The type is quoted after the ':' only: the counter name is made of the words before it.
    return f"OwnTracks unknown type: {kind[:40]!r} is {_NOT_A_LOCATION}"


class OwnTracksCodec:
    """Codec for OwnTracks JSON (module docstring). Stateless.

    ``fallback_device`` names the device when neither the topic nor the payload does (the
    ``decode`` command reading a file); the gateway leaves it ``None``, so such a location is
    rejected.
    """

    format_name = FORMAT_NAME

    def __init__(self, fallback_device: str | None = None) -> None:
        self._fallback = fallback_device

    def decode(
        self, payload: bytes, received_at: datetime, device_hint: str | None = None
    ) -> DecodeOutcome:
        try:
            obj, text = load_json(payload)
        except DecodeError as exc:
            return DecodeOutcome(rejects=(Rejected(exc.reason, payload, device_hint),))
        if not isinstance(obj, dict):
            return DecodeOutcome(
                rejects=(
                    Rejected("not an OwnTracks message (no JSON object)", payload, device_hint),
                )
            )
        named = _device_from_topic_field(obj)
        if device_hint and named and named != device_hint:
            reason = identity_mismatch(named, device_hint, "payload topic")
            return DecodeOutcome(rejects=(Rejected(reason, payload, device_hint),))
        device_id = device_hint or named or _tid(obj) or self._fallback
        if obj.get("_type") == "lwt":
            return DecodeOutcome()  # the broker telling the phone's connection dropped
        why_not = _not_a_location(obj.get("_type"))
        if why_not is not None:
            return DecodeOutcome(rejects=(Rejected(why_not, payload, device_id),))
        try:
            fix = self._fix(obj, text, utc(received_at), device_id)
        except DecodeError as exc:
            return DecodeOutcome(rejects=(Rejected(exc.reason, payload, device_id),))
        return DecodeOutcome(fixes=(fix,))

    def _fix(
        self, obj: dict[str, Any], text: str, received: datetime, device_id: str | None
    ) -> PositionFix:
        if not device_id:
            raise DecodeError("no device id: no owntracks/<user>/<device> topic, topic or tid")
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
