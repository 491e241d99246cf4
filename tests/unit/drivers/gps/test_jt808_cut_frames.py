"""One message of cut JT/T 808 frames must not stall the pipeline.

A transparent bridge in front of a terminal on a failing GPRS link publishes what it buffered:
the opening of a 0x0704 blind-area batch (``7e``, a header declaring a 1023-byte body, the first
bytes of it), cut, again and again, then the link recovers. Each cut frame is refused (counted,
logged); the decoder runs on the pipeline's one thread, so a message of them (within the 64 KiB
topic limit) must cost about what a message of good frames of that size costs, not the time
every other terminal's fixes, alarms and deadlines wait behind it.

What is measured is the work, not seconds: the bytes the framer un-escapes and the bytes the
codec checks (header, check code, length), each at most twice the payload, as for good frames.
Before the framer was made linear, 16 kB of cut frames had it un-escape 65 MB and check 33 MB
(every cut frame retried at each later 0x7e within 4 KiB, from its opening one) and held the
thread for about 20 s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

import drivers.gps.jt808.codec as codec_module
import drivers.gps.jt808.framing as framing_module
from drivers.gps.jt808.codec import Jt808Codec
from drivers.gps.mqtt_decoder import GpsMessageDecoder
from drivers.mqtt.ingest_types import MqttMessage
from gateway.records import DecodeOutcome
from tests.unit.drivers.gps.corpus_data import FRAMES

RECEIVED = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
LOCATION = bytes.fromhex(FRAMES[36]["frame_hex"])  # real terminal 1601285614, 0x0200
TERMINAL = "1601285614"
# 0x0704, properties 0x03ff (1023-byte body), phone 001601285614, serial 1, then the first body
# bytes (count 0x0010, type 1) before the link drops: 16 bytes with the opening 7e.
CUT_BATCH = bytes.fromhex("7e070403ff0016012856140001") + bytes.fromhex("001001")
# One more body byte: 17 bytes, and the 0x7e at which such a frame would hold its declared 1036
# bytes (1037 after its opening one, 61 x 17) is always another cut frame's opening 0x7e, the
# one place the framer retries a frame that may hold an unescaped 0x7e.
CUT_BATCH_ALIGNED = CUT_BATCH + b"\x00"


@dataclass
class Work:
    """Bytes passed to the framer's un-escaping and to the codec's frame check."""

    unescaped: int = 0
    checked: int = 0
    checks: list[int] = field(default_factory=list)


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Work:
    counted = Work()
    unescape = framing_module.unescape
    check = codec_module.check_content

    def counting_unescape(escaped: bytes) -> bytes:
        counted.unescaped += len(escaped)
        return unescape(escaped)

    def counting_check(content: bytes) -> str | None:
        counted.checked += len(content)
        counted.checks.append(len(content))
        return check(content)

    monkeypatch.setattr(framing_module, "unescape", counting_unescape)
    monkeypatch.setattr(codec_module, "check_content", counting_check)
    return counted


def _decode(payload: bytes) -> DecodeOutcome:
    decode: Callable[[MqttMessage], DecodeOutcome | None] = GpsMessageDecoder(
        codecs={"jt808": Jt808Codec()}
    )
    message = MqttMessage(
        topic=f"devices/{TERMINAL}/jt808",
        payload=payload,
        received_at=RECEIVED,
        qos=1,
        retain=False,
    )
    outcome = decode(message)
    assert outcome is not None
    return outcome


@pytest.mark.parametrize("cut", [CUT_BATCH, CUT_BATCH_ALIGNED], ids=["cut", "aligned"])
def test_a_message_of_cut_frames_costs_the_work_of_a_good_one(work: Work, cut: bytes) -> None:
    cuts = 16_000 // len(cut)  # 16 kB, a quarter of the topic's limit
    payload = cut * cuts + LOCATION
    outcome = _decode(payload)
    # Every cut frame refused and counted, the good frame after them decoded.
    assert len(outcome.rejects) == cuts
    assert [f.device_id for f in outcome.fixes] == [TERMINAL]
    assert work.unescaped <= 2 * len(payload), f"{work.unescaped} bytes un-escaped"
    assert work.checked <= 2 * len(payload), f"{work.checked} bytes checked"
    assert len(work.checks) <= 2 * (cuts + 1)


def test_a_message_of_good_frames_is_the_measure(work: Work) -> None:
    payload = LOCATION * (16_000 // len(LOCATION))
    outcome = _decode(payload)
    assert len(outcome.fixes) == 16_000 // len(LOCATION)
    assert outcome.rejects == ()
    assert work.unescaped <= len(payload)
    assert work.checked <= len(payload)
