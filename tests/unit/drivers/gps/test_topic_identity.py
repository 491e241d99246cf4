"""A payload speaks only for the device whose topic it came on: every codec refuses one whose
own identity names another device, attributed to the topic's device, counted under one name.

Real corpus frames and samples where they exist; decoded through :class:`GpsMessageDecoder`,
the path the gateway takes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from drivers.gps.jt808.codec import Jt808Codec
from drivers.gps.jt808.reply import Jt808Platform
from drivers.gps.mqtt_decoder import GpsMessageDecoder
from gateway.pipeline.reasons import reason_key
from gateway.records import Alarm, AlarmSignal, DecodeOutcome, PositionFix
from tests.unit.drivers.gps.corpus_data import FRAMES, OWNTRACKS, RECEIVED, gpsd_sentences
from tests.unit.drivers.gps.test_jt808_emqx import _emqx, _location

SOS_FRAME = bytes.fromhex(FRAMES[19]["frame_hex"])  # 0x0200, phone 112233445566, alarm bit 0
REGISTRATION = bytes.fromhex(FRAMES[26]["frame_hex"])  # 0x0100, phone BCD 000123456789


@dataclass(frozen=True)
class _Message:
    topic: str
    payload: bytes
    received_at: datetime = RECEIVED
    retain: bool = False


def _decode(topic: str, payload: bytes, decoder: GpsMessageDecoder | None = None) -> DecodeOutcome:
    outcome = (decoder or GpsMessageDecoder("devices"))(_Message(topic, payload))
    assert outcome is not None
    return outcome


def _refused(outcome: DecodeOutcome, topic_device: str) -> str:
    """The single reject of a refused message (nothing else in it); its reason."""
    assert (outcome.fixes, outcome.alarms, outcome.replies) == ((), (), ())
    (reject,) = outcome.rejects
    assert reject.device_id == topic_device
    assert reason_key(reject.reason) == "device_id_mismatch"
    return reject.reason


def test_jt808_sos_frame_counts_under_its_own_topic_only() -> None:
    own = _decode("devices/112233445566/jt808", SOS_FRAME)
    (fix,) = own.fixes
    assert (fix.device_id, fix.alarms, own.rejects) == ("112233445566", frozenset({Alarm.SOS}), ())
    reason = _refused(_decode("devices/guard-a/jt808", SOS_FRAME), "guard-a")
    assert reason == "device id mismatch: frame header names '112233445566', topic names 'guard-a'"
    hex_text = SOS_FRAME.hex().encode()
    _refused(_decode("devices/112233445567/jt808", hex_text), "112233445567")


def test_jt808_foreign_frame_is_neither_registered_nor_acknowledged() -> None:
    decoder = GpsMessageDecoder("devices", codecs={"jt808": Jt808Codec(Jt808Platform(b"k"))})
    # The 12-digit BCD form in the topic is the same terminal (leading zeros aside).
    own = _decode("devices/000123456789/jt808", REGISTRATION, decoder)
    assert [r.device_id for r in own.replies] == ["000123456789"] and own.rejects == ()
    _refused(_decode("devices/987654321/jt808", REGISTRATION, decoder), "987654321")


def test_jt808_payload_mixing_own_and_foreign_frames_keeps_only_its_own() -> None:
    decoder = GpsMessageDecoder("devices", codecs={"jt808": Jt808Codec(Jt808Platform(b"k"))})
    outcome = _decode("devices/112233445566/jt808", SOS_FRAME + REGISTRATION, decoder)
    assert [f.device_id for f in outcome.fixes] == ["112233445566"]
    assert [reason_key(r.reason) for r in outcome.rejects] == ["device_id_mismatch"]
    assert [r.device_id for r in outcome.rejects] == ["112233445566"]
    assert len(outcome.replies) == 1  # the 0x8001 for its own report, none for the foreign one


def test_emqx_uplink_header_phone_and_client_id_must_be_the_topics() -> None:
    go = FRAMES[36]["expected"]["go_jt808_decode"]  # real terminal, phone 1601285614
    payload = _emqx(512, "0" + go["phone"], _location(go["location"]))
    for topic in ("jt808/01601285614/01601285614/up", "jt808/01601285614/1601285614/up"):
        (fix,) = _decode(topic, payload).fixes
        assert fix.device_id == "1601285614"
    reason = _refused(_decode("jt808/13900000000/13900000000/up", payload), "13900000000")
    assert reason.startswith("device id mismatch: header phone names '1601285614'")
    # Published straight on jt808/... by a client that is not EMQX's session of that phone.
    reason = _refused(_decode("jt808/intruder/01601285614/up", payload), "01601285614")
    assert reason.startswith("device id mismatch: EMQX client id names 'intruder'")


def test_gateway_json_fix_and_sos_for_another_device_are_refused_whole() -> None:
    sos = {"time": "2026-03-01T08:15:30+08:00", "alarms": ["sos"], "device_id": "guard-b"}
    reason = _refused(_decode("devices/guard-a/json", json.dumps(sos).encode()), "guard-a")
    assert reason == "device id mismatch: payload names 'guard-b', topic names 'guard-a'"
    fix = {"time": 1772324130, "lat": 30.5928, "lon": 114.3055, "device_id": "guard-b"}
    _refused(_decode("devices/guard-a/json", json.dumps(fix).encode()), "guard-a")
    batch = {"device_id": "guard-b", "fixes": [dict(fix, device_id=None)]}
    _refused(_decode("devices/guard-a/json", json.dumps(batch).encode()), "guard-a")
    # In a batch, the one foreign item is refused; the others are the topic's.
    mixed = [dict(fix, device_id="guard-a"), fix, {"time": 1772324160, "lat": 30.6, "lon": 114.3}]
    outcome = _decode("devices/guard-a/json", json.dumps(mixed).encode())
    assert [f.device_id for f in outcome.fixes] == ["guard-a", "guard-a"]
    assert [(reason_key(r.reason), r.device_id) for r in outcome.rejects] == [
        ("device_id_mismatch", "guard-a")
    ]


def test_owntracks_topic_field_must_be_the_topics_device_tid_is_a_label() -> None:
    sample = next(s for s in OWNTRACKS if s.get("mqtt_topic") == "owntracks/jane/nokia")
    doc = dict(sample["payload"], topic="owntracks/bob/phone")
    reason = _refused(_decode("owntracks/jane/nokia", json.dumps(doc).encode()), "jane/nokia")
    assert reason == "device id mismatch: payload topic names 'bob/phone', topic names 'jane/nokia'"
    (fix,) = _decode("owntracks/jane/nokia", sample["payload_text"].encode()).fixes
    assert fix.device_id == "jane/nokia"  # tid "j1" is the user's display label, not an id


def test_nmea_tracker_id_before_dollar_must_be_the_topics_device() -> None:
    rmc = next(s for s in gpsd_sentences("tcp-test.log") if s.startswith("$GPRMC"))
    own = _decode("devices/865067020012345/nmea", f"865067020012345{rmc}\n".encode())
    assert [f.device_id for f in own.fixes] == ["865067020012345"]
    _refused(_decode("devices/gps-7/nmea", f"865067020012345{rmc}\n".encode()), "gps-7")


class _CodecNamingAnotherDevice:
    """A codec that forgets the check: the decoder must still keep its records off guard-b."""

    format_name = "json"

    def decode(
        self, payload: bytes, received_at: datetime, device_hint: str | None = None
    ) -> DecodeOutcome:
        fix = PositionFix("guard-b", received_at, received_at, 30.5, 114.3, raw="f")
        alarm = AlarmSignal("guard-b", received_at, received_at, frozenset({Alarm.SOS}), raw="a")
        return DecodeOutcome(fixes=(fix,), alarms=(alarm,))


def test_decoder_turns_any_record_of_another_device_into_a_reject_of_the_topics() -> None:
    decoder = GpsMessageDecoder("devices", codecs={"json": _CodecNamingAnotherDevice()})
    outcome = _decode("devices/guard-a/json", b"{}", decoder)
    assert (outcome.fixes, outcome.alarms) == ((), ())
    assert [(reason_key(r.reason), r.device_id, r.raw) for r in outcome.rejects] == [
        ("device_id_mismatch", "guard-a", b"f"),
        ("device_id_mismatch", "guard-a", b"a"),
    ]
