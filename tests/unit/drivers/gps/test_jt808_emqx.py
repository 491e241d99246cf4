"""EMQX JT/T 808 gateway JSON: the corpus frames' values, written in EMQX's documented field names,
give the same fixes as the binary frames."""

from __future__ import annotations

import base64
import json
from typing import Any

from drivers.gps.jt808.codec import Jt808Codec
from drivers.gps.jt808.emqx import EmqxJt808Codec
from gateway.records import DecodeOutcome
from tests.unit.drivers.gps.corpus_data import FRAMES, RECEIVED


def _location(item: dict[str, Any]) -> dict[str, Any]:
    """A go-jt808 decoded item in EMQX's field names (raw protocol units)."""
    stamp = item["dateTime"]
    digits = stamp[2:4] + stamp[5:7] + stamp[8:10] + stamp[11:13] + stamp[14:16] + stamp[17:19]
    body = {
        "alarm": item["alarmSign"],
        "status": item["statusSign"],
        "latitude": item["latitude"],
        "longitude": item["longitude"],
        "altitude": item["altitude"],
        "speed": item["speed"],
        "direction": item["direction"],
        "time": digits,
    }
    extra: dict[str, Any] = {}
    for key, value in item.get("additions", {}).items():
        # EMQX's data exchange format: named items, then 0xE1-0xFF under "custome" and any
        # other id under "extra" itself, keyed by the id in decimal, the value in base64.
        item_id, data = int(key, 16), bytes.fromhex(value["data_hex"])
        named = {0x01: "mileage", 0x30: "rssi", 0x31: "gnss_sat_num"}.get(item_id)
        if named:
            extra[named] = int.from_bytes(data, "big")
        elif item_id > 0xE0:
            extra.setdefault("custome", {})[str(item_id)] = base64.b64encode(data).decode()
        else:
            extra[str(item_id)] = base64.b64encode(data).decode()
    if extra:
        body["extra"] = extra
    return body


def _emqx(msg_id: int, phone: str, body: dict[str, Any]) -> bytes:
    doc = {"header": {"msg_id": msg_id, "encrypt": 0, "phone": phone, "msg_sn": 1}, "body": body}
    return json.dumps(doc).encode()


def _same(ours: DecodeOutcome, binary: DecodeOutcome) -> None:
    assert len(ours.fixes) == len(binary.fixes)
    assert len(ours.rejects) == len(binary.rejects)
    assert [(a.device_id, a.alarm_time, a.alarms, a.lat, a.battery_pct) for a in ours.alarms] == [
        (a.device_id, a.alarm_time, a.alarms, a.lat, a.battery_pct) for a in binary.alarms
    ]
    for a, b in zip(ours.fixes, binary.fixes, strict=True):
        assert (a.device_id, a.fix_time, a.lat, a.lon) == (b.device_id, b.fix_time, b.lat, b.lon)
        assert (a.speed_mps, a.course_deg, a.altitude_m) == (
            b.speed_mps,
            b.course_deg,
            b.altitude_m,
        )
        assert (a.satellites, a.alarms, a.battery_pct) == (b.satellites, b.alarms, b.battery_pct)
        assert a.source_format == "jt808-emqx"


def test_location_report_gives_the_binary_codecs_fix() -> None:
    frame = FRAMES[36]
    go = frame["expected"]["go_jt808_decode"]
    payload = _emqx(512, "0" + go["phone"], _location(go["location"]))
    ours = EmqxJt808Codec().decode(payload, RECEIVED, "1601285614")
    _same(ours, Jt808Codec().decode(bytes.fromhex(frame["frame_hex"]), RECEIVED))


def test_tamper_report_without_fix_gives_the_binary_codecs_alarm_and_battery() -> None:
    frame = FRAMES[37]  # alarm bit 17, not located, vendor items 0x56 (battery) and 0xFE
    go = frame["expected"]["go_jt808_decode"]
    ours = EmqxJt808Codec().decode(_emqx(512, go["phone"], _location(go["location"])), RECEIVED)
    binary = Jt808Codec().decode(bytes.fromhex(frame["frame_hex"]), RECEIVED)
    _same(ours, binary)
    assert [a.battery_pct for a in ours.alarms] == [90]


def test_batch_upload_gives_the_binary_codecs_fixes_and_rejects() -> None:
    for index in (31, 32):
        go = FRAMES[index]["expected"]["go_jt808_decode"]
        batch = go["batch"]
        body = {
            "type": batch["type"],
            "length": batch["count"],
            "location": [_location(i) for i in batch["items"]],
        }
        ours = EmqxJt808Codec().decode(_emqx(1796, go["phone"], body), RECEIVED, None)
        _same(ours, Jt808Codec().decode(bytes.fromhex(FRAMES[index]["frame_hex"]), RECEIVED))


def test_heartbeat_and_registration_are_not_positions() -> None:
    assert EmqxJt808Codec().decode(_emqx(2, "13900000000", {}), RECEIVED) == DecodeOutcome()
    assert (
        EmqxJt808Codec().decode(_emqx(256, "13900000000", {"province": 1}), RECEIVED)
        == DecodeOutcome()
    )


def test_phone_as_number_and_missing_phone_fall_back_sensibly() -> None:
    go = FRAMES[36]["expected"]["go_jt808_decode"]
    doc = {"header": {"msg_id": 512, "phone": 1601285614}, "body": _location(go["location"])}
    (fix,) = EmqxJt808Codec().decode(json.dumps(doc).encode(), RECEIVED).fixes
    assert fix.device_id == "1601285614"
    doc["header"] = {"msg_id": 512}
    (fix,) = EmqxJt808Codec().decode(json.dumps(doc).encode(), RECEIVED, "001601285614").fixes
    assert fix.device_id == "1601285614"


def test_bad_payloads_are_rejected_with_reasons() -> None:
    codec = EmqxJt808Codec()
    assert codec.decode(b"{", RECEIVED).rejects[0].reason.startswith("not JSON")
    assert "header" in codec.decode(b'{"body": {}}', RECEIVED).rejects[0].reason
    missing = _emqx(512, "13900000000", {"alarm": 0, "status": 2})
    assert codec.decode(missing, RECEIVED).rejects[0].reason == "missing field 'latitude'"
    go = FRAMES[36]["expected"]["go_jt808_decode"]
    bad_time = dict(_location(go["location"]), time="991399000000")
    assert (
        codec.decode(_emqx(512, "1", bad_time), RECEIVED).rejects[0].reason.startswith("bad time")
    )
