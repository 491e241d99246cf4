"""OwnTracks ``_type: location`` payloads, published on ``owntracks/<user>/<device>``.

Fields follow the OwnTracks JSON format: ``lat``/``lon`` (WGS-84), ``tst`` (fix time, Unix
seconds), ``acc`` (accuracy, whole metres), ``alt`` (whole metres), ``vel`` (whole km/h), ``cog``
(whole degrees), ``batt`` (percent, ``-1`` when unknown), ``tid`` (two-character tracker id).
OwnTracks has no alarm field, so an SOS cannot be carried in this format.

Some Android builds send numbers as JSON strings (``"acc": "12"``); ``numbers_as_strings``
reproduces that so the gateway's tolerance of it can be exercised.
"""

from __future__ import annotations

import json
from typing import Any

from fwsim.gps.fix import SimFix

__all__ = ["encode_owntracks", "owntracks_object", "owntracks_topic"]

_NUMERIC = ("lat", "lon", "tst", "acc", "alt", "vel", "cog", "batt")


def owntracks_topic(user: str, device: str) -> str:
    """The topic an OwnTracks app publishes its locations on."""
    return f"owntracks/{user}/{device}"


def owntracks_object(fix: SimFix, tid: str, *, numbers_as_strings: bool = False) -> dict[str, Any]:
    """The location object of one fix."""
    obj: dict[str, Any] = {
        "_type": "location",
        "lat": round(fix.lat, 7),
        "lon": round(fix.lon, 7),
        "tst": int(fix.time.timestamp()),
        "acc": round(fix.accuracy_m),
        "alt": round(fix.altitude_m),
        "vel": round(fix.speed_mps * 3.6),
        "cog": round(fix.course_deg) % 360,
        "batt": -1 if fix.battery_pct is None else round(fix.battery_pct),
        "tid": tid,
    }
    if numbers_as_strings:
        for key in _NUMERIC:
            obj[key] = str(obj[key])
    return obj


def encode_owntracks(fix: SimFix, tid: str, *, numbers_as_strings: bool = False) -> bytes:
    """One fix as compact UTF-8 JSON."""
    obj = owntracks_object(fix, tid, numbers_as_strings=numbers_as_strings)
    return json.dumps(obj, separators=(",", ":")).encode()
