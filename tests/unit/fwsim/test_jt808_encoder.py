"""JT/T 808 encoder against the golden corpus: frames rebuilt from the field values that
independent implementations decoded must come out byte for byte identical."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from fwsim.gps import jt808
from fwsim.gps.encoders import EncoderOptions, Jt808Encoder, make_encoder
from fwsim.gps.fix import SimFix

GMT8 = timezone(timedelta(hours=8))


def _frames(corpus: Path) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = json.loads((corpus / "jt808_frames.json").read_text())["frames"]
    return frames


def _go_decode(frame: dict[str, Any]) -> dict[str, Any] | None:
    decoded = frame.get("go_jt808_decode") or frame["expected"].get("go_jt808_decode")
    return decoded if isinstance(decoded, dict) else None


def _gmt8(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8)


def _unescaped(frame_hex: str) -> bytes:
    raw = bytes.fromhex(frame_hex)[1:-1]
    return raw.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")


def _location_from_go(item: dict[str, Any], frame_hex: str) -> jt808.LocationBody:
    items = [
        (int(key, 16), bytes.fromhex(value["data_hex"]))
        for key, value in item.get("additions", {}).items()
    ]
    # go-jt808 returns the additional items in a Go map, which loses their wire order; the
    # order is therefore read off the capture (the values still come from the decode).
    content = _unescaped(frame_hex)
    start = content.find(jt808.bcd_time_gmt8(_gmt8(item["dateTime"])))
    items.sort(key=lambda it: content.find(bytes([it[0], len(it[1])]) + it[1], start))
    return jt808.LocationBody(
        alarm=item["alarmSign"],
        status=item["statusSign"],
        lat_e6=item["latitude"],
        lon_e6=item["longitude"],
        altitude_m=item["altitude"],
        speed_0_1kmh=item["speed"],
        direction_deg=item["direction"],
        time=_gmt8(item["dateTime"]),
        items=tuple(items),
    )


def _position_frames(corpus: Path) -> list[tuple[int, dict[str, Any]]]:
    return [
        (i, f)
        for i, f in enumerate(_frames(corpus))
        if (d := _go_decode(f)) and ("location" in d or "batch" in d)
    ]


def test_corpus_has_position_frames_decoded_by_go_jt808(corpus: Path) -> None:
    # Guards the parametrised test below against silently running on nothing.
    assert len(_position_frames(corpus)) >= 7


def test_location_and_batch_frames_rebuilt_from_decoded_fields_match_corpus_bytes(
    corpus: Path,
) -> None:
    for index, frame in _position_frames(corpus):
        decoded = _go_decode(frame)
        assert decoded is not None
        if "location" in decoded:
            body = jt808.location_body(_location_from_go(decoded["location"], frame["frame_hex"]))
        else:
            batch = decoded["batch"]
            locations = [_location_from_go(item, frame["frame_hex"]) for item in batch["items"]]
            assert len(locations) == batch["count"]
            body = jt808.batch_body(locations, batch["type"])
        built = jt808.build_frame(
            int(decoded["msg_id"], 16), jt808.bcd_phone(decoded["phone"]), decoded["serial"], body
        )
        assert built.hex() == frame["frame_hex"], f"frame {index}"


def test_escaped_location_frame_from_go_jt808_test_matches_byte_for_byte(corpus: Path) -> None:
    frame = next(
        f for f in _frames(corpus) if f["tags"] == ["0x0200", "escape", "invalid-latitude"]
    )
    body = frame["expected"]["body"]
    loc = jt808.LocationBody(
        alarm=body["alarm"],
        status=body["status"],
        lat_e6=body["lat_raw"],
        lon_e6=body["lon_raw"],
        altitude_m=body["altitude_m"],
        speed_0_1kmh=body["speed_0_1kmh"],
        direction_deg=body["direction"],
        time=_gmt8(body["time_gmt8"]),
    )
    # The upstream test encodes with serial 0; the 0x7e inside the latitude must be escaped.
    built = jt808.build_frame(
        jt808.MSG_LOCATION, jt808.bcd_phone(frame["expected"]["phone"]), 0, jt808.location_body(loc)
    )
    assert built.hex() == frame["frame_hex"]
    assert "7d02" in built.hex()


def test_sos_fix_in_northern_eastern_hemisphere_encodes_like_smallchi_0x0200(corpus: Path) -> None:
    frame = next(f for f in _frames(corpus) if f["source"]["path"].endswith("JT808_0x0200Test.cs"))
    exp = frame["expected"]
    body = exp["body"]
    fix = SimFix(
        device_id=exp["phone"],
        time=_gmt8(body["time_gmt8"]).astimezone(UTC),
        lat=body["lat_raw"] / 1e6,
        lon=body["lon_raw"] / 1e6,
        accuracy_m=5.0,
        speed_mps=body["speed_0_1kmh"] / 36.0,
        course_deg=body["direction"],
        altitude_m=body["altitude_m"],
        satellites=None,
        battery_pct=None,
        sos=body["alarm"] == 1,
        odometer_m=body["additions"]["0x01_mileage_0_1km"] * 100.0,
    )
    fuel = (0x02, body["additions"]["0x02_fuel_0_1L"].to_bytes(2, "big"))
    loc = jt808.location_from_fix(fix, extra_items=[fuel])
    assert loc.alarm == jt808.ALARM_SOS
    assert loc.status == jt808.STATUS_LOCATED == body["status"]
    built = jt808.build_frame(
        jt808.MSG_LOCATION, jt808.bcd_phone(fix.device_id), exp["serial"], jt808.location_body(loc)
    )
    assert built.hex() == frame["frame_hex"]


def test_southern_fix_sets_south_bit_like_real_jakarta_terminal(corpus: Path) -> None:
    frame = next(f for f in _frames(corpus) if "Jakarta" in f.get("note", ""))
    decoded = _go_decode(frame)
    assert decoded is not None
    loc = decoded["location"]
    add = loc["additions"]
    signed = frame["expected"]["helper_crosscheck"]["signed_position"]
    fix = SimFix(
        device_id=decoded["phone"],
        time=_gmt8(loc["dateTime"]).astimezone(UTC),
        lat=signed["lat_deg"],
        lon=signed["lon_deg"],
        accuracy_m=5.0,
        speed_mps=loc["speed"] / 36.0,
        course_deg=loc["direction"],
        altitude_m=loc["altitude"],
        satellites=int(add["0x31"]["data_hex"], 16),
        battery_pct=None,
        odometer_m=int(add["0x01"]["data_hex"], 16) * 100.0,
    )
    # The device also sets ACC (bit 0) and GPS-in-use (bit 18) and sends a vendor 0x2a item.
    body = jt808.location_from_fix(
        fix,
        signal=int(add["0x30"]["data_hex"], 16),
        extra_status=(1 << 0) | (1 << 18),
        extra_items=[(0x2A, bytes.fromhex(add["0x2a"]["data_hex"]))],
    )
    assert body.status & jt808.STATUS_SOUTH
    assert body.status == loc["statusSign"]
    built = jt808.build_frame(
        jt808.MSG_LOCATION,
        jt808.bcd_phone(fix.device_id),
        decoded["serial"],
        jt808.location_body(body),
    )
    assert built.hex() == frame["frame_hex"]


def test_registration_frames_match_smallchi_and_real_terminal(corpus: Path) -> None:
    frames = [f for f in _frames(corpus) if f["tags"] in (["0x0100"], ["real-device"])]
    checked = 0
    for frame in frames:
        decoded = _go_decode(frame)
        if not decoded or decoded["msg_id"] != "0x0100":
            continue
        body = decoded["body"]
        reg = jt808.Registration(
            province_id=body["provinceId"],
            city_id=body["cityId"],
            manufacturer_id=body["manufacturerId"],
            terminal_model=body["terminalModel"],
            terminal_id=body["terminalID"],
            plate_color=body["plateColor"],
            plate=body["licensePlateNumber"],
        )
        built = jt808.build_frame(
            jt808.MSG_REGISTRATION,
            jt808.bcd_phone(decoded["phone"]),
            decoded["serial"],
            jt808.registration_body(reg),
        )
        assert built.hex() == frame["frame_hex"]
        checked += 1
    assert checked == 2


def test_authentication_and_heartbeat_frames_match_corpus(corpus: Path) -> None:
    checked = 0
    for frame in _frames(corpus):
        decoded = _go_decode(frame)
        if not decoded or decoded.get("protocol_version") != 2:
            continue
        phone, serial = jt808.bcd_phone(decoded["phone"]), decoded["serial"]
        if decoded["msg_id"] == "0x0102":
            body = jt808.authentication_body(decoded["body"]["authCode"])
            built = jt808.build_frame(jt808.MSG_AUTHENTICATION, phone, serial, body)
        elif decoded["msg_id"] == "0x0002":
            built = jt808.build_frame(jt808.MSG_HEARTBEAT, phone, serial, b"")
        else:
            continue
        assert built.hex() == frame["frame_hex"]
        checked += 1
    assert checked >= 3


def test_escaping_matches_framing_vector(corpus: Path) -> None:
    frame = next(f for f in _frames(corpus) if f["frame_hex"] == "7e307d02087d01557e")
    unescaped = bytes.fromhex(frame["expected"]["unescaped_frame_hex"])
    assert b"\x7e" + jt808.escape(unescaped[1:-1]) + b"\x7e" == bytes.fromhex(frame["frame_hex"])


def test_time_is_sent_in_gmt8_bcd() -> None:
    assert (
        jt808.bcd_time_gmt8(datetime(2024, 10, 1, 15, 59, 59, tzinfo=UTC)).hex() == "241001235959"
    )


def test_phone_is_left_padded_bcd_and_rejects_too_many_digits() -> None:
    assert jt808.bcd_phone("13800000001").hex() == "013800000001"
    with pytest.raises(ValueError, match="1 to 12 digits"):
        jt808.bcd_phone("1234567890123")
    with pytest.raises(ValueError):
        jt808.bcd_phone("guard-a")


def _fix(second: int, *, lat: float = 30.5928, lon: float = 114.3055) -> SimFix:
    return SimFix(
        device_id="13800000001",
        time=datetime(2025, 3, 1, 8, 0, second, tzinfo=UTC),
        lat=lat,
        lon=lon,
        accuracy_m=8.0,
        speed_mps=1.4,
        course_deg=359.6,
        altitude_m=-3.0,
        satellites=9,
        battery_pct=80.0,
        odometer_m=1234.0,
    )


def test_western_fix_with_negative_altitude_and_course_rounding_to_360() -> None:
    loc = jt808.location_from_fix(_fix(0, lat=-33.9, lon=-70.6), signal=20)
    assert loc.status == jt808.STATUS_LOCATED | jt808.STATUS_SOUTH | jt808.STATUS_WEST
    assert (loc.lat_e6, loc.lon_e6) == (33_900_000, 70_600_000)
    assert loc.altitude_m == 0  # unsigned field
    assert loc.direction_deg == 0  # 359.6 rounds to 360 == north
    assert loc.speed_0_1kmh == 50  # 1.4 m/s = 5.04 km/h
    assert [item_id for item_id, _ in loc.items] == [0x01, 0x30, 0x31]
    assert dict(loc.items)[0x01] == (12).to_bytes(4, "big")  # 1234 m = 12 x 0.1 km


def test_batch_is_blind_area_type_1_and_split_at_body_limit() -> None:
    encoder = make_encoder("jt808", "13800000001")
    assert isinstance(encoder, Jt808Encoder)
    fixes = [_fix(s % 60) for s in range(60)]
    messages = encoder.batch(fixes)
    assert len(messages) > 1
    assert sum(m.fixes for m in messages) == 60
    serials = []
    for message in messages:
        frame = message.payload
        assert frame[:1] == frame[-1:] == b"\x7e"
        raw = frame[1:-1].replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")
        content, check = raw[:-1], raw[-1]
        assert jt808.xor_check(content) == check
        assert int.from_bytes(content[0:2], "big") == jt808.MSG_BATCH_LOCATION
        body_len = int.from_bytes(content[2:4], "big") & 0x3FF
        body = content[12:]
        assert body_len == len(body) <= jt808.MAX_BODY_LEN
        assert int.from_bytes(body[0:2], "big") == message.fixes
        assert body[2] == jt808.BATCH_BLIND_AREA
        serials.append(int.from_bytes(content[10:12], "big"))
    assert serials == list(range(len(messages)))


def test_registering_terminal_opens_its_login_with_0100_and_keeps_serials_for_the_rest() -> None:
    encoder = make_encoder("jt808", "13800000001", EncoderOptions(register=True))
    (login,) = encoder.login()
    assert login.kind == "login" and login.payload[1:3].hex() == "0100"
    assert login.payload[11:13].hex() == "0000"  # serial 0
    assert login.login is not None
    assert login.login.downlink_topic == "devices/13800000001/jt808/down"
    assert login.login.phone_bcd == jt808.bcd_phone("13800000001")
    assert login.login.serials == (1, 2, 3)
    assert login.login.registration.terminal_id == "0000001"
    assert encoder.fix(_fix(0))[0].payload[11:13].hex() == "0004"  # serial continues after them


def test_terminal_without_register_sends_no_login() -> None:
    assert make_encoder("jt808", "13800000001").login() == []


def test_hex_text_option_sends_the_same_frame_as_lowercase_hex() -> None:
    binary = make_encoder("jt808", "13800000001").fix(_fix(0))[0].payload
    text = make_encoder("jt808-hex", "13800000001").fix(_fix(0))[0].payload
    assert text == binary.hex().encode()
