"""JT/T 808 golden corpus: every frame of tests/corpus/jt808_frames.json, against what the
upstream implementations (go-jt808, SmallChi/JT808, traccar) assert about it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drivers.gps.jt808.codec import Jt808Codec, decode_messages
from drivers.gps.jt808.framing import Jt808Framer, RawFrame, unescape
from drivers.gps.jt808.location import parse_batch, parse_location
from drivers.gps.jt808.message import parse_authentication, parse_registration
from gateway.records import Alarm
from tests.unit.drivers.gps.corpus_data import FRAMES, RECEIVED


def _frames(predicate: Any) -> list[Any]:
    return [pytest.param(f, id=f"frame{FRAMES.index(f)}") for f in FRAMES if predicate(f)]


def _go(frame: dict[str, Any]) -> dict[str, Any]:
    """go-jt808's decode: top level for SmallChi frames, under ``expected`` for traccar's."""
    found = frame.get("go_jt808_decode") or frame["expected"].get("go_jt808_decode") or {}
    return dict(found)


def _crosscheck(frame: dict[str, Any]) -> dict[str, Any]:
    return dict(frame["expected"].get("helper_crosscheck") or {})


def _decode(frame: dict[str, Any]) -> Any:
    return Jt808Codec().decode(bytes.fromhex(frame["frame_hex"]), RECEIVED)


def _gmt8_to_utc(text: str) -> datetime:
    local = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    return (local - timedelta(hours=8)).replace(tzinfo=UTC)


def _only_message(frame: dict[str, Any]) -> Any:
    messages, rejects = decode_messages(bytes.fromhex(frame["frame_hex"]))
    assert rejects == []
    assert len(messages) == 1
    return messages[0]


@pytest.mark.parametrize(
    "frame",
    _frames(lambda f: "msg_id" in f["expected"] and f["checks"]["xor_checksum_ok"] is not False),
)
def test_header_matches_upstream_msg_id_phone_serial_and_version(frame: dict[str, Any]) -> None:
    expected = frame["expected"]
    head = _only_message(frame).header
    assert head.msg_id == int(expected["msg_id"], 16)
    if "phone" in expected:
        assert head.phone == expected["phone"]
    if "serial" in expected:
        assert head.serial == expected["serial"]
    if "version" in expected:
        assert head.version_2019 is (expected["version"] == "2019")
    if "protocol_version" in expected:
        assert head.protocol_version == expected["protocol_version"]


@pytest.mark.parametrize("frame", _frames(lambda f: bool(_go(f))))
def test_header_matches_go_jt808_full_decode(frame: dict[str, Any]) -> None:
    go = _go(frame)
    if "msg_id" not in go:
        assert _decode(frame).rejects, "go-jt808 refused this frame; so must we"
        return
    head = _only_message(frame).header
    assert head.msg_id == int(go["msg_id"], 16)
    assert head.phone == go["phone"]
    assert head.serial == go["serial"]
    if go.get("body_len") is not None:
        assert head.body_length == go["body_len"]


def _check_report(report: Any, item: dict[str, Any]) -> None:
    keys = {
        "alarm": "alarm",
        "alarmSign": "alarm",
        "status": "status",
        "statusSign": "status",
        "lat_raw": "lat_raw",
        "latitude": "lat_raw",
        "lon_raw": "lon_raw",
        "longitude": "lon_raw",
        "altitude_m": "altitude_m",
        "altitude": "altitude_m",
        "speed_0_1kmh": "speed_0_1kmh",
        "speed": "speed_0_1kmh",
        "direction": "direction",
    }
    for key, attr in keys.items():
        if key in item:
            assert getattr(report, attr) == item[key], key
    stamp = item.get("time_gmt8") or item.get("dateTime")
    if stamp:
        digits = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").strftime("%y%m%d%H%M%S")
        assert report.time_bcd == digits
    for item_id, value in item.get("additions", {}).items():
        if isinstance(value, dict) and "data_hex" in value:
            assert report.additions[int(item_id, 16)].hex() == value["data_hex"]


# Frame 28 is left out: upstream parses it with the check code ignored; we reject it (see
# test_frames_failing_the_xor_check_are_rejected).
@pytest.mark.parametrize(
    "frame",
    _frames(
        lambda f: (
            f["expected"].get("msg_id") == "0x0200"
            and "body" in f["expected"]
            and f["checks"]["xor_checksum_ok"] is True
        )
    ),
)
def test_location_body_fields_match_upstream(frame: dict[str, Any]) -> None:
    body = frame["expected"]["body"]
    report = parse_location(_only_message(frame).body)
    _check_report(report, body)
    additions = body.get("additions", {})
    if "0x01_mileage_0_1km" in additions:
        assert report.mileage_0_1km == additions["0x01_mileage_0_1km"]
    if "0x30_rssi" in additions:
        assert report.signal == additions["0x30_rssi"]
    if "0x31_gnss_satellites" in additions:
        assert report.satellites == additions["0x31_gnss_satellites"]


@pytest.mark.parametrize(
    "frame",
    _frames(lambda f: "location" in _go(f)),
)
def test_location_body_fields_match_go_jt808(frame: dict[str, Any]) -> None:
    report = parse_location(_only_message(frame).body)
    _check_report(report, _go(frame)["location"])


@pytest.mark.parametrize(
    "frame", _frames(lambda f: f["expected"].get("msg_id") == "0x0704" or "batch" in _go(f))
)
def test_batch_items_match_upstream(frame: dict[str, Any]) -> None:
    expected = frame["expected"].get("body") or _go(frame)["batch"]
    batch = parse_batch(_only_message(frame).body)
    assert batch.count == expected["count"]
    assert batch.kind == expected["type"]
    assert batch.error is None
    assert len(batch.items) == len(expected["items"])
    for report, item in zip(batch.items, expected["items"], strict=True):
        _check_report(report, item)


@pytest.mark.parametrize(
    "frame",
    _frames(lambda f: bool({"signed_position", "signed_positions"} & set(_crosscheck(f)))),
)
def test_real_device_positions_are_the_located_ones_signed_and_in_utc(
    frame: dict[str, Any],
) -> None:
    check = _crosscheck(frame)
    expected = check.get("signed_positions") or [check["signed_position"]]
    outcome = _decode(frame)
    located = [p for p in expected if p["located_bit1"]]
    assert len(outcome.fixes) == len(located)
    # A report without a fix is rejected, or kept as an alarm when it raises one.
    assert len(outcome.rejects) + len(outcome.alarms) == len(expected) - len(located)
    for fix, want in zip(outcome.fixes, located, strict=True):
        assert fix.lat == pytest.approx(want["lat_deg"], abs=1e-9)
        assert fix.lon == pytest.approx(want["lon_deg"], abs=1e-9)
        assert fix.fix_time == datetime.fromisoformat(want["time_utc_if_gmt8"])
        assert fix.source_format == "jt808"
        assert fix.raw == frame["frame_hex"]
    for rejected in outcome.rejects:
        assert rejected.reason.startswith("not located")


@pytest.mark.parametrize("frame", _frames(lambda f: f["checks"].get("xor_checksum_ok") is False))
def test_frames_failing_the_xor_check_are_rejected(frame: dict[str, Any]) -> None:
    outcome = _decode(frame)
    assert outcome.fixes == ()
    assert [r.reason.split(" (")[0] for r in outcome.rejects] == ["checksum mismatch"]
    assert outcome.rejects[0].raw == bytes.fromhex(frame["frame_hex"])


@pytest.mark.parametrize("frame", _frames(lambda f: "error" in f["expected"]))
def test_frames_upstream_refuses_are_rejected_with_its_reason(frame: dict[str, Any]) -> None:
    outcome = _decode(frame)
    assert outcome.fixes == ()
    assert len(outcome.rejects) == 1
    upstream = frame["expected"]["error"].split(" (")[0]
    assert outcome.rejects[0].reason.startswith(upstream.replace("checksum error", "checksum"))


@pytest.mark.parametrize("frame", _frames(lambda f: f["expected"].get("accepted") is True))
def test_frames_upstream_accepts_are_accepted(frame: dict[str, Any]) -> None:
    _only_message(frame)


@pytest.mark.parametrize("frame", _frames(lambda f: "unescaped_frame_hex" in f["expected"]))
def test_traccar_framing_vectors_unescape_both_escapes_and_skip_leading_garbage(
    frame: dict[str, Any],
) -> None:
    results = Jt808Framer().feed(bytes.fromhex(frame["frame_hex"]))
    frames = [r for r in results if isinstance(r, RawFrame)]
    assert len(frames) == 1
    content = frames[0].content
    assert (b"\x7e" + content + b"\x7e").hex() == frame["expected"]["unescaped_frame_hex"]
    assert unescape(bytes.fromhex("307d02087d0155")) == bytes.fromhex("307e087d55")


@pytest.mark.parametrize("frame", _frames(lambda f: "invalid-latitude" in f.get("tags", [])))
def test_go_jt808_synthetic_positions_never_become_fixes(frame: dict[str, Any]) -> None:
    outcome = _decode(frame)
    assert outcome.fixes == ()
    assert outcome.rejects


def test_smallchi_location_with_sos_alarm_bit_gives_sos_fix_in_utc() -> None:
    frame = FRAMES[19]
    (fix,) = _decode(frame).fixes
    body = frame["expected"]["body"]
    assert fix.device_id == frame["expected"]["phone"]
    assert fix.alarms == frozenset({Alarm.SOS})
    assert fix.fix_time == _gmt8_to_utc(body["time_gmt8"])
    assert fix.lat == body["lat_raw"] / 1e6
    assert fix.lon == body["lon_raw"] / 1e6
    assert fix.altitude_m == body["altitude_m"]
    assert fix.speed_mps == pytest.approx(body["speed_0_1kmh"] / 10 / 3.6)
    assert fix.course_deg == body["direction"]


def test_smallchi_batch_keeps_the_located_item_and_the_alarm_of_the_not_located_one() -> None:
    frame = FRAMES[20]
    outcome = _decode(frame)
    assert [f.lat for f in outcome.fixes] == [12.222222]
    assert outcome.rejects == ()
    # Item 2: alarm 2 (overspeed), status 1 (not located): no fix, but its alarm is kept with
    # the position the terminal wrote, not trusted as a fix.
    (signal,) = outcome.alarms
    item = frame["expected"]["body"]["items"][1]
    assert signal.alarms == frozenset({Alarm.OVERSPEED})
    assert (signal.lat, signal.lon) == (item["lat_raw"] / 1e6, item["lon_raw"] / 1e6)
    assert signal.alarm_time == _gmt8_to_utc(item["time_gmt8"])
    assert signal.device_id == frame["expected"]["phone"]


def test_real_tamper_report_without_fix_is_an_alarm_with_the_battery_traccar_asserts() -> None:
    frame = FRAMES[37]  # alarm bit 17, status not located, coordinates 0, vendor item 0x56
    go = frame["expected"]["go_jt808_decode"]["location"]
    outcome = _decode(frame)
    assert (outcome.fixes, outcome.rejects) == ((), ())
    (signal,) = outcome.alarms
    assert signal.alarms == frozenset({Alarm.TAMPER})
    assert signal.battery_pct == 90  # traccar asserts KEY_BATTERY_LEVEL 90
    assert (signal.lat, signal.lon) == (None, None)  # 0,0 is no position
    assert signal.alarm_time == _gmt8_to_utc(go["dateTime"])
    assert signal.raw == frame["frame_hex"]
    assert signal.source_format == "jt808"


def test_traccar_batch_satellites_come_from_item_0x31() -> None:
    (fix,) = _decode(FRAMES[29]).fixes
    assert fix.satellites == 14  # traccar asserts KEY_SATELLITES 14


def test_vendor_frame_with_unescaped_7e_inside_still_decodes_as_traccar_does() -> None:
    frame = FRAMES[35]
    assert frame["frame_hex"][2:-2].count("7e") > 0
    (fix,) = _decode(frame).fixes
    want = _crosscheck(frame)["signed_position"]
    assert (fix.lat, fix.lon) == (want["lat_deg"], want["lon_deg"])


def test_registration_bodies_match_upstream_2013_and_2019() -> None:
    for index in (6, 7, 26, 27):
        frame = FRAMES[index]
        expected = frame["expected"]["body"]
        reg = parse_registration(_only_message(frame))
        assert reg.province_id == expected["province_id"]
        assert reg.city_id == expected["city_id"]
        assert reg.manufacturer_id == expected["manufacturer_id"]
        assert reg.terminal_model == expected["terminal_model"]
        assert reg.terminal_id == expected["terminal_id"]
        assert reg.plate_color == expected["plate_color"]
        assert reg.plate == expected["plate"].removesuffix(" (GBK)")


def test_authentication_bodies_match_upstream_2013_and_2019() -> None:
    assert parse_authentication(_only_message(FRAMES[4])).auth_code == "17299841738"
    assert parse_authentication(_only_message(FRAMES[25])).auth_code == "456121111"
    auth = parse_authentication(_only_message(FRAMES[5]))
    body = FRAMES[5]["expected"]["body"]
    assert (auth.auth_code, auth.imei, auth.software_version) == (
        body["auth_code"],
        body["imei"],
        body["software_version"],
    )


@pytest.mark.parametrize("index", [2, 3, 21, 33, 34])
def test_heartbeats_and_registrations_are_not_positions_and_not_errors(index: int) -> None:
    assert _decode(FRAMES[index]) == type(_decode(FRAMES[index]))()
