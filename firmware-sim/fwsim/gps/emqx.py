"""EMQX JT/T 808 gateway JSON: what EMQX's ``emqx_jt808`` publishes for a terminal's frames.

Written from EMQX's "JT/T 808 Gateway Data Exchange Format" page (field names, units and types),
not from the gateway's codec: a terminal connects to EMQX's JT/T 808 listener, EMQX answers
it and publishes each uplink frame as JSON on ``jt808/{clientid}/{phone}/up``. EMQX makes the
client id the terminal's phone, so both levels are the 12-digit phone here.

* header: ``msg_id`` (512 = 0x0200 location, 1796 = 0x0704 batch), ``encrypt`` 0, ``phone``
  (the BCD digits as a string), ``msg_sn`` (the frame's serial number).
* 0x0200 body: ``alarm``, ``status``, ``latitude``, ``longitude`` (degrees x 1e6, hemisphere in
  the status bits), ``altitude`` (m), ``speed`` (0.1 km/h), ``direction``, ``time`` (BCD string
  ``YYMMDDhhmmss`` in GMT+8), ``extra`` with ``mileage`` (0.1 km), ``rssi``, ``gnss_sat_num``.
* 0x0704 body: ``type`` (1 = blind-area re-upload), ``length`` (item count), ``location``
  (a list of 0x0200 bodies).

Registration and authentication never reach the bridge topic as locations (EMQX handles them),
so a terminal in this format has no log-in of its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta, timezone
from typing import Any, Final

from fwsim.gps.fix import SimFix
from fwsim.gps.jt808 import BATCH_BLIND_AREA, LocationBody, location_from_fix

__all__ = ["MSG_BATCH", "MSG_LOCATION", "emqx_body", "emqx_phone", "emqx_topic", "encode_emqx"]

MSG_LOCATION: Final = 0x0200
MSG_BATCH: Final = 0x0704
_GMT8 = timezone(timedelta(hours=8))


def emqx_phone(device_id: str) -> str:
    """The 12 BCD digits of ``device_id`` as EMQX writes them (left-padded with 0)."""
    digits = "".join(ch for ch in device_id if ch.isdigit())
    if not digits or len(digits) > 12:
        raise ValueError(f"device id {device_id!r} must contain 1 to 12 digits for JT/T 808")
    return digits.zfill(12)


def emqx_topic(device_id: str) -> str:
    """``jt808/<clientid>/<phone>/up`` with the client id EMQX gives: the phone."""
    phone = emqx_phone(device_id)
    return f"jt808/{phone}/{phone}/up"


def emqx_body(loc: LocationBody) -> dict[str, Any]:
    """One location body as EMQX's JSON (the ``body`` of a 0x0200, an item of a 0x0704)."""
    body: dict[str, Any] = {
        "alarm": loc.alarm,
        "status": loc.status,
        "latitude": loc.lat_e6,
        "longitude": loc.lon_e6,
        "altitude": loc.altitude_m,
        "speed": loc.speed_0_1kmh,
        "direction": loc.direction_deg,
        "time": loc.time.astimezone(_GMT8).strftime("%y%m%d%H%M%S"),
    }
    extra: dict[str, int] = {}
    for item_id, value in loc.items:
        name = {0x01: "mileage", 0x30: "rssi", 0x31: "gnss_sat_num"}.get(item_id)
        if name is not None:
            extra[name] = int.from_bytes(value, "big")
    if extra:
        body["extra"] = extra
    return body


def encode_emqx(
    device_id: str,
    serial: int,
    fixes: Sequence[SimFix],
    *,
    batch: bool = False,
    signal: int | None = None,
    extra_status: int = 0,
) -> bytes:
    """One uplink: a 0x0200 of ``fixes[0]``, or (``batch``) a 0x0704 blind-area re-upload."""
    if not fixes:
        raise ValueError("an uplink needs at least one fix")
    bodies = [
        emqx_body(location_from_fix(f, signal=signal, extra_status=extra_status)) for f in fixes
    ]
    header = {
        "msg_id": MSG_BATCH if batch else MSG_LOCATION,
        "encrypt": 0,
        "phone": emqx_phone(device_id),
        "msg_sn": serial & 0xFFFF,
    }
    body: dict[str, Any] = (
        {"type": BATCH_BLIND_AREA, "length": len(bodies), "location": bodies}
        if batch
        else bodies[0]
    )
    return json.dumps({"header": header, "body": body}, separators=(",", ":")).encode()
