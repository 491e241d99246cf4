"""Hostile input: no GPS codec raises, whatever the bytes, and what it returns is well-formed.

Property tests (hypothesis); see ``tests/unit/drivers/fuzzing.py`` for a longer campaign.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.gps.base import (
    JSON_PAYLOAD_LIMIT,
    JT808_PAYLOAD_LIMIT,
    MAX_FIXES_PER_MESSAGE,
    NMEA_PAYLOAD_LIMIT,
)
from drivers.gps.jt808.codec import Jt808Codec
from drivers.gps.jt808.message import terminal_id
from drivers.gps.jt808.reply import Jt808Platform
from drivers.gps.registry import FORMAT_NAMES, codec_for
from gateway.records import DecodeOutcome
from tests.unit.drivers.fuzzing import assert_well_formed, fuzz_settings
from tests.unit.drivers.gps.corpus_data import FRAMES, OWNTRACKS

RECEIVED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
DEVICE = "T-0042"


def decode(format_name: str, payload: bytes, hint: str | None = DEVICE) -> DecodeOutcome:
    outcome = codec_for(format_name).decode(payload, RECEIVED, hint)
    assert_well_formed(outcome)
    return outcome


# --- arbitrary bytes -------------------------------------------------------------------------


@pytest.mark.parametrize("format_name", FORMAT_NAMES)
@fuzz_settings
@given(payload=st.binary(max_size=2048), hint=st.sampled_from([DEVICE, None, ""]))
def test_no_codec_raises_on_arbitrary_bytes(
    format_name: str, payload: bytes, hint: str | None
) -> None:
    decode(format_name, payload, hint)


@pytest.mark.parametrize("format_name", FORMAT_NAMES)
@fuzz_settings
@given(
    text=st.text(alphabet=st.sampled_from('[]{}",:0123456789.-eE ntrufalsNI\\$*\n'), max_size=2048)
)
def test_no_codec_raises_on_json_like_or_sentence_like_text(format_name: str, text: str) -> None:
    decode(format_name, text.encode())


@pytest.mark.parametrize("format_name", ["json", "owntracks", "jt808-emqx"])
@pytest.mark.parametrize(
    "opener", [b"[", b'{"a":', b'{"fixes":[', b'{"header":{"msg_id":512},"body":']
)
def test_deeply_nested_json_is_refused_with_a_reason_not_a_recursion_error(
    format_name: str, opener: bytes
) -> None:
    outcome = decode(format_name, opener * 1000)
    assert [r.reason.split(" (")[0] for r in outcome.rejects] == ["JSON nested too deep"]


def test_nesting_inside_strings_does_not_count() -> None:
    text = json.dumps({"time": "2026-03-01T08:00:00Z", "lat": 30.5, "lon": 114.3, "x": "[" * 100})
    assert len(decode("json", text.encode()).fixes) == 1


@pytest.mark.parametrize(
    ("format_name", "limit"),
    [
        ("json", JSON_PAYLOAD_LIMIT),
        ("owntracks", JSON_PAYLOAD_LIMIT),
        ("jt808-emqx", JSON_PAYLOAD_LIMIT),
        ("nmea", NMEA_PAYLOAD_LIMIT),
        ("jt808", JT808_PAYLOAD_LIMIT),
    ],
)
def test_a_payload_over_its_topic_limit_is_refused_whole(format_name: str, limit: int) -> None:
    outcome = decode(format_name, b" " * limit + b"1")
    assert [r.reason for r in outcome.rejects] == [
        f"payload too large ({limit + 1} bytes, limit {limit})"
    ]


def test_a_json_batch_over_the_cap_is_refused_whole() -> None:
    fix = {"time": "2026-03-01T08:00:00Z", "lat": 30.5, "lon": 114.3}
    many = json.dumps({"fixes": [fix] * (MAX_FIXES_PER_MESSAGE + 1)}, separators=(",", ":"))
    outcome = decode("json", many.encode())
    assert not outcome.fixes
    assert [r.reason for r in outcome.rejects] == [
        f"batch too large ({MAX_FIXES_PER_MESSAGE + 1} items, limit {MAX_FIXES_PER_MESSAGE})"
    ]
    at_cap = json.dumps([fix] * MAX_FIXES_PER_MESSAGE, separators=(",", ":"))
    assert len(decode("json", at_cap.encode()).fixes) == MAX_FIXES_PER_MESSAGE


def test_an_emqx_0704_list_over_the_cap_is_refused_whole() -> None:
    doc = {
        "header": {"msg_id": 1796, "encrypt": 0, "phone": "13912345678", "msg_sn": 1},
        "body": {"type": 1, "length": MAX_FIXES_PER_MESSAGE + 1, "location": [{}] * 1001},
    }
    outcome = decode("jt808-emqx", json.dumps(doc).encode(), None)
    assert [r.reason.split(" (")[0] for r in outcome.rejects] == ["batch too large"]


def test_a_lone_surrogate_in_a_batch_item_stays_storable() -> None:
    payload = b'[{"time":"2026-03-01T08:00:00Z","lat":30.5,"lon":114.3,"note":"\\ud800"}]'
    (fix,) = decode("json", payload).fixes
    assert "\\ud800" in fix.raw


# --- near-valid structured input -------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_TIMES = st.one_of(
    st.just("2026-03-01T08:15:30+08:00"),
    st.just("2026-03-01T08:15:30"),
    st.text(max_size=30),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True),
)
_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=12),
    st.none(),
    st.booleans(),
)


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


_FIX = st.fixed_dictionaries(
    {"time": _TIMES, "lat": _NUMBERS, "lon": _NUMBERS},
    optional={
        "accuracy_m": _NUMBERS,
        "speed_mps": _NUMBERS,
        "course_deg": _NUMBERS,
        "altitude_m": _NUMBERS,
        "satellites": _NUMBERS,
        "battery_pct": _NUMBERS,
        "alarms": st.lists(st.sampled_from(["sos", "low_battery", "bogus"]) | _JSON, max_size=3)
        | _JSON,
        "device_id": st.sampled_from([DEVICE, "other"]) | _JSON,
        "extra": _JSON,
    },
)


@fuzz_settings
@given(
    doc=_FIX
    | st.lists(_FIX | _JSON, max_size=5)
    | st.fixed_dictionaries({"fixes": st.lists(_FIX, max_size=5) | _JSON})
)
def test_gateway_json_near_valid_documents(doc: Any) -> None:
    decode("json", _dumps(doc))


@fuzz_settings
@given(
    base=st.sampled_from(
        [s["payload"] for s in OWNTRACKS if isinstance(s.get("payload"), dict)] or [{}]
    ),
    changes=st.dictionaries(
        st.sampled_from(
            ["_type", "lat", "lon", "tst", "acc", "alt", "vel", "cog", "batt", "tid", "topic"]
        ),
        _NUMBERS | _JSON,
        max_size=4,
    ),
)
def test_owntracks_near_valid_documents(base: dict[str, Any], changes: dict[str, Any]) -> None:
    decode("owntracks", _dumps({**base, **changes}), "user/phone")


@fuzz_settings
@given(
    msg_id=st.sampled_from([512, 1796]) | st.integers() | _JSON,
    phone=st.sampled_from(["13912345678", "0"]) | _JSON,
    body=st.dictionaries(
        st.sampled_from(
            [
                "alarm",
                "status",
                "latitude",
                "longitude",
                "altitude",
                "speed",
                "direction",
                "time",
                "extra",
                "location",
                "type",
            ]
        ),
        _NUMBERS | _JSON,
        max_size=8,
    ),
    items=st.lists(
        st.dictionaries(
            st.sampled_from(["alarm", "status", "latitude", "longitude", "time", "extra"]),
            _NUMBERS | _JSON,
            max_size=6,
        ),
        max_size=4,
    ),
)
def test_emqx_near_valid_documents(
    msg_id: Any, phone: Any, body: dict[str, Any], items: list[Any]
) -> None:
    if msg_id == 1796:
        body = {**body, "location": items}
    doc = {"header": {"msg_id": msg_id, "encrypt": 0, "phone": phone, "msg_sn": 1}, "body": body}
    decode("jt808-emqx", _dumps(doc), None)


def _nmea(body: str) -> str:
    check = 0
    for ch in body.encode("latin-1", "replace"):
        check ^= ch
    return f"${body}*{check:02X}"


_FIELD = st.text(alphabet=st.sampled_from("0123456789.-+ANSEWVMDRFPGL,"), max_size=12)


@fuzz_settings
@given(
    sentences=st.lists(
        st.tuples(
            st.sampled_from(["GPRMC", "GNRMC", "GPGGA", "GNGGA", "GNGNS", "GPGSV", "BDRMC"]),
            st.lists(_FIELD, max_size=16),
        ),
        min_size=1,
        max_size=5,
    ),
    prefix=st.sampled_from(["", DEVICE, "other"]),
)
def test_nmea_sentences_with_good_checksums_and_odd_fields(
    sentences: list[tuple[str, list[str]]], prefix: str
) -> None:
    text = "\r\n".join(prefix + _nmea(",".join([kind, *fields])) for kind, fields in sentences)
    decode("nmea", text.encode("latin-1", "replace"))


_FRAME_HEX = [frame["frame_hex"] for frame in FRAMES]


@fuzz_settings
@given(
    frame=st.sampled_from(_FRAME_HEX),
    flips=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=6
    ),
    cut=st.integers(min_value=0, max_value=4096),
    as_hex=st.booleans(),
)
def test_jt808_corpus_frames_mutated(
    frame: str, flips: list[tuple[int, int]], cut: int, as_hex: bool
) -> None:
    data = bytearray(bytes.fromhex(frame))
    for position, value in flips:
        data[position % len(data)] = value
    mutated = bytes(data[: max(cut, 1)])
    decode("jt808", mutated.hex().encode() if as_hex else mutated, None)


# --- JT/T 808 messages: well-framed, checksummed frames around arbitrary bodies ----------------


def _frame(msg_id: int, body: bytes, phone_bcd: bytes, flags: int) -> bytes:
    """A 2013-header frame, escaped, written here independently of the driver's encoder."""
    props = (len(body) & 0x03FF) | (flags & 0xFC00)
    content = msg_id.to_bytes(2, "big") + props.to_bytes(2, "big") + phone_bcd + b"\x00\x01"
    content += body
    check = 0
    for byte in content:
        check ^= byte
    content += bytes([check])
    escaped = content.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")
    return b"\x7e" + escaped + b"\x7e"


_LOCATION_BODY = st.builds(
    lambda alarm, status, lat, lon, alt, speed, course, when, extra: (
        alarm.to_bytes(4, "big")
        + status.to_bytes(4, "big")
        + lat.to_bytes(4, "big")
        + lon.to_bytes(4, "big")
        + alt.to_bytes(2, "big")
        + speed.to_bytes(2, "big")
        + course.to_bytes(2, "big")
        + when
        + extra
    ),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1) | st.sampled_from([0x2, 0x3, 0xE]),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**16 - 1),
    st.integers(0, 2**16 - 1),
    st.integers(0, 2**16 - 1),
    st.binary(min_size=6, max_size=6) | st.just(bytes.fromhex("260301081530")),
    st.binary(max_size=40),
)


def _batch_body(kind: int, items: list[bytes], count_delta: int) -> bytes:
    body = max(len(items) + count_delta, 0).to_bytes(2, "big") + bytes([kind & 0xFF])
    for item in items:
        body += len(item).to_bytes(2, "big") + item
    return body


@fuzz_settings
@given(
    msg_id=st.sampled_from([0x0200, 0x0704, 0x0100, 0x0102, 0x0002]) | st.integers(0, 0xFFFF),
    body=_LOCATION_BODY | st.binary(max_size=300),
    items=st.lists(_LOCATION_BODY | st.binary(max_size=40), max_size=4),
    count_delta=st.integers(-2, 2),
    phone=st.binary(min_size=6, max_size=6) | st.just(bytes.fromhex("013912345678")),
    flags=st.sampled_from([0, 0x2000, 0x0400]) | st.integers(0, 0xFFFF),
    answer=st.booleans(),
)
def test_jt808_valid_frames_with_arbitrary_bodies(
    msg_id: int,
    body: bytes,
    items: list[bytes],
    count_delta: int,
    phone: bytes,
    flags: int,
    answer: bool,
) -> None:
    if msg_id == 0x0704:
        body = _batch_body(1, items, count_delta)
    codec = Jt808Codec(Jt808Platform(b"k") if answer else None)
    frame = _frame(msg_id, body[:1023], phone, flags)
    # Under its own topic (bodies reach the parsers and the replies) and under another's.
    outcome = codec.decode(frame, RECEIVED, terminal_id(phone))
    assert_well_formed(outcome)
    outcome = codec.decode(frame, RECEIVED, DEVICE)
    assert_well_formed(outcome)
    assert (outcome.fixes, outcome.alarms, outcome.replies) == ((), (), ())
    outcome = codec.decode(frame.hex().encode(), RECEIVED, None)
    assert_well_formed(outcome)


def test_the_frame_builder_above_makes_frames_the_codec_reads() -> None:
    body = (
        (0).to_bytes(4, "big")
        + (0x2).to_bytes(4, "big")
        + (30_592_800).to_bytes(4, "big")
        + (114_305_500).to_bytes(4, "big")
        + bytes(6)
        + bytes.fromhex("260301081530")
    )
    frame = _frame(0x0200, body, bytes.fromhex("013912345678"), 0)
    (fix,) = Jt808Codec().decode(frame, RECEIVED, "13912345678").fixes
    assert fix.device_id == "13912345678" and fix.lat == 30.5928


# --- numbers and times beyond a float or a date -----------------------------------------------

HUGE = "1" + "0" * 400  # a valid JSON integer that no float holds


@pytest.mark.parametrize(
    ("format_name", "payload", "reason"),
    [
        ("json", f'{{"time": {HUGE}, "lat": 30.5, "lon": 114.3}}', "time"),
        ("json", f'{{"time": 1772409600, "lat": {HUGE}, "lon": 114.3}}', "lat is not finite"),
        ("json", '{"time": "0001-01-01T00:00:00+08:00", "lat": 30.5, "lon": 114.3}', "time"),
        ("json", '{"time": "9999-12-31T23:59:59-01:00", "lat": 30.5, "lon": 114.3}', "time"),
        ("owntracks", f'{{"_type": "location", "lat": 30.5, "lon": 114.3, "tst": {HUGE}}}', "tst"),
        (
            "jt808-emqx",
            '{"header": {"msg_id": 512, "phone": "T-0042"}, "body": {"alarm": 0, "status": 2,'
            f' "latitude": 30500000, "longitude": 114300000, "altitude": {HUGE}, "speed": 0,'
            ' "direction": 0, "time": "260301080000"}}',
            "altitude out of range",
        ),
    ],
)
def test_a_number_or_time_out_of_any_range_is_a_reject_not_a_raise(
    format_name: str, payload: str, reason: str
) -> None:
    outcome = decode(format_name, payload.encode())
    assert outcome.fixes == ()
    (reject,) = outcome.rejects
    assert reject.reason.startswith(reason)
