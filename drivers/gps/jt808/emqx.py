"""The ``jt808-emqx`` codec: JSON from EMQX's JT/T 808 gateway on ``jt808/{clientid}/{phone}/up``.

Field names as documented by EMQX ("JT/T 808 Gateway Data Exchange Format",
docs.emqx.com/en/emqx/latest/gateway/jt808_data_exchange.html, and
``apps/emqx_gateway_jt808/doc/Data_Exchange_Guide_CN.md`` in emqx/emqx):

* header: ``msg_id`` (integer; 512 = 0x0200, 1796 = 0x0704), ``encrypt``, ``phone`` (BCD as a
  string; the example shows a number), ``msg_sn``, optional ``proto_ver`` (2019),
  ``frag_total``/``frag_sn``.
* 0x0200 body: ``alarm``, ``status``, ``latitude``, ``longitude`` (DWORD, degrees x 1e6, sign in
  status bits 2/3), ``altitude`` (m), ``speed`` (0.1 km/h), ``direction``, ``time`` (BCD string
  ``YYMMDDhhmmss`` in GMT+8), optional ``extra`` map with ``mileage``, ``rssi``, ``gnss_sat_num``...
  and the items EMQX does not name: an id of 0xE1-0xFF under ``extra.custome`` and any other
  under ``extra`` itself, keyed by the id in decimal (``"86"`` for 0x56), the value base64.
* 0x0704 body: ``type`` (0 normal, 1 blind-area re-upload), ``length`` (item count),
  ``location`` (list of 0x0200 bodies).

Units stay those of the raw protocol and the items are turned back into the frame's, so a
report gives what the binary codec gives for the same frame: a fix, or an ``AlarmSignal`` when it
raises an alarm without a fix (SOS indoors), or a reject. Other messages (heartbeat,
registration, authentication...) give nothing and are not errors. No reply is built: the EMQX
gateway answers its terminals itself.
The device id is the header's phone without leading zeros (as the binary codec reports it), or
the topic's phone when the header has none. A header phone that is not the topic's (leading
zeros aside) is refused (``device id mismatch: ...``): EMQX writes both from the terminal's own
connection, so they differ only in a message published on ``jt808/...`` by some other client.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from drivers.gps.base import MAX_FIXES_PER_MESSAGE, identity_mismatch, load_json
from drivers.gps.jt808.codec import same_terminal
from drivers.gps.jt808.location import LocationReport, report_record
from drivers.gps.jt808.message import MSG_BATCH, MSG_LOCATION
from gateway.clock import utc
from gateway.errors import DecodeError
from gateway.records import AlarmSignal, DecodeOutcome, PositionFix, Rejected

__all__ = ["EmqxJt808Codec"]

FORMAT_NAME = "jt808-emqx"
_FIELDS = {
    "alarm": 32,
    "status": 32,
    "latitude": 32,
    "longitude": 32,
    "altitude": 16,
    "speed": 16,
    "direction": 16,
}
"""The 0x0200 base fields and their width in bits on the wire (DWORD, WORD)."""
_NAMED_ITEMS = {"mileage": (0x01, 4), "rssi": (0x30, 1), "gnss_sat_num": (0x31, 1)}


def _items(extra: object) -> dict[int, bytes]:
    """The additional items of an ``extra`` map, as the frame had them (id -> value bytes).

    Extras are optional: one EMQX did not write as documented is left out, never an error."""
    if not isinstance(extra, dict):
        return {}
    items: dict[int, bytes] = {}
    custom = extra.get("custome")
    unnamed = [*extra.items(), *(custom.items() if isinstance(custom, dict) else ())]
    for key, value in unnamed:
        if key in _NAMED_ITEMS:
            item, size = _NAMED_ITEMS[key]
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 256**size:
                items[item] = value.to_bytes(size, "big")
        elif isinstance(key, str) and key.isdigit() and int(key) < 256 and isinstance(value, str):
            try:
                items[int(key)] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                continue
    return items


def _int(body: dict[str, Any], key: str, bits: int = 32) -> int:
    """``body[key]`` as the unsigned integer of ``bits`` bits the frame carried."""
    if key not in body:
        raise DecodeError(f"missing field {key!r}")
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DecodeError(f"{key} must be a non-negative integer, not {str(value)[:40]!r}")
    if value >= 1 << bits:
        raise DecodeError(f"{key} out of range (more than {bits} bits)")
    return value


class EmqxJt808Codec:
    """Codec for EMQX JT/T 808 uplink JSON (module docstring). Stateless."""

    format_name = FORMAT_NAME

    def decode(
        self, payload: bytes, received_at: datetime, device_hint: str | None = None
    ) -> DecodeOutcome:
        try:
            doc, text = load_json(payload)
        except DecodeError as exc:
            return DecodeOutcome(rejects=(Rejected(exc.reason, payload, device_hint),))
        try:
            header, body = self._split(doc)
            msg_id = _int(header, "msg_id")
            if msg_id not in (MSG_LOCATION, MSG_BATCH):
                return DecodeOutcome()
            device = self._device(header, device_hint)
            if header.get("encrypt", 0):
                raise DecodeError("encrypted location message")
            if "frag_total" in header or "frag_sn" in header:
                raise DecodeError("sub-packaged location message (not reassembled)")
        except DecodeError as exc:
            return DecodeOutcome(rejects=(Rejected(exc.reason, payload, device_hint),))
        received = utc(received_at)
        if msg_id == MSG_LOCATION:
            results = [self._record(body, device, received, text, payload)]
        else:
            items = body.get("location")
            if not isinstance(items, list):
                return DecodeOutcome(
                    rejects=(Rejected("0x0704 body has no location list", payload, device),)
                )
            if len(items) > MAX_FIXES_PER_MESSAGE:
                reason = f"batch too large ({len(items)} items, limit {MAX_FIXES_PER_MESSAGE})"
                return DecodeOutcome(rejects=(Rejected(reason, payload, device),))
            results = [
                self._record(
                    item, device, received, text, json.dumps(item, separators=(",", ":")).encode()
                )
                for item in items
            ]
        return DecodeOutcome(
            fixes=tuple(r for r in results if isinstance(r, PositionFix)),
            rejects=tuple(r for r in results if isinstance(r, Rejected)),
            alarms=tuple(r for r in results if isinstance(r, AlarmSignal)),
        )

    @staticmethod
    def _split(doc: object) -> tuple[dict[str, Any], dict[str, Any]]:
        if not isinstance(doc, dict):
            raise DecodeError("not a JSON object")
        header, body = doc.get("header"), doc.get("body")
        if not isinstance(header, dict):
            raise DecodeError("missing field 'header'")
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise DecodeError("body must be a JSON object")
        return header, body

    @staticmethod
    def _device(header: dict[str, Any], hint: str | None) -> str:
        phone = header.get("phone")
        if isinstance(phone, int) and not isinstance(phone, bool):
            phone = str(phone)
        if isinstance(phone, str) and phone.strip():
            device = phone.strip().lstrip("0") or "0"
            if hint and not same_terminal(device, hint):
                raise DecodeError(identity_mismatch(device, hint, "header phone"))
            return device
        if hint:
            return hint.lstrip("0") or "0"
        raise DecodeError("no device id: header has no phone and the topic gives none")

    @staticmethod
    def _record(
        body: object, device: str, received: datetime, text: str, raw_bytes: bytes
    ) -> PositionFix | AlarmSignal | Rejected:
        try:
            if not isinstance(body, dict):
                raise DecodeError("location must be a JSON object")
            values = {key: _int(body, key, bits) for key, bits in _FIELDS.items()}
            time_digits = body.get("time")
            if not isinstance(time_digits, str):
                raise DecodeError("time must be a BCD string YYMMDDhhmmss")
        except DecodeError as exc:
            return Rejected(exc.reason, raw_bytes, device)
        report = LocationReport(
            alarm=values["alarm"],
            status=values["status"],
            lat_raw=values["latitude"],
            lon_raw=values["longitude"],
            altitude_m=values["altitude"],
            speed_0_1kmh=values["speed"],
            direction=values["direction"],
            time_bcd=time_digits,
            additions=_items(body.get("extra")),
        )
        return report_record(
            report,
            device_id=device,
            received_at=received,
            source_format=FORMAT_NAME,
            raw=text,
            raw_bytes=raw_bytes,
        )
