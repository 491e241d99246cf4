"""The JT/T 808 stream framer: garbage, partial frames, frames split across feeds, several frames
in one feed, invalid escapes. Frames are the corpus's; the surrounding noise is hand-made."""

from __future__ import annotations

from drivers.gps.jt808.codec import Jt808Codec, decode_messages
from drivers.gps.jt808.framing import FrameError, Jt808Framer, RawFrame
from drivers.gps.jt808.message import check_content, declared_length, xor_checksum
from tests.unit.drivers.gps.corpus_data import FRAMES, RECEIVED

HEARTBEAT = bytes.fromhex(FRAMES[34]["frame_hex"])  # real terminal, 0x0002
LOCATION = bytes.fromhex(FRAMES[36]["frame_hex"])  # real terminal, 0x0200 south of the equator
ESCAPED = bytes.fromhex(FRAMES[21]["frame_hex"])  # check code 0x7e sent as 7d 02


def _framer() -> Jt808Framer:
    return Jt808Framer(validate=check_content, frame_length=declared_length)


def _wires(results: list[RawFrame | FrameError]) -> list[bytes]:
    return [r.wire for r in results if isinstance(r, RawFrame)]


def _errors(results: list[RawFrame | FrameError]) -> list[str]:
    return [r.reason for r in results if isinstance(r, FrameError)]


def test_two_frames_in_one_feed_come_out_in_order() -> None:
    results = _framer().feed(HEARTBEAT + LOCATION)
    assert _wires(results) == [HEARTBEAT, LOCATION]
    assert _errors(results) == []


def test_frame_split_across_two_feeds_is_held_until_complete() -> None:
    framer = _framer()
    assert framer.feed(LOCATION[:20]) == []
    assert _wires(framer.feed(LOCATION[20:])) == [LOCATION]
    assert framer.flush() == []


def test_frame_split_inside_an_escape_sequence_unescapes_correctly() -> None:
    framer = _framer()
    cut = ESCAPED.index(b"\x7d") + 1  # between 7d and 02
    assert framer.feed(ESCAPED[:cut]) == []
    (frame,) = framer.feed(ESCAPED[cut:])
    assert isinstance(frame, RawFrame)
    assert frame.content[-1] == 0x7E


def test_garbage_before_a_frame_is_reported_once_then_skipped() -> None:
    results = _framer().feed(b"AT+OK\r\n" + HEARTBEAT)
    assert _errors(results) == ["garbage outside a frame"]
    assert _wires(results) == [HEARTBEAT]


def test_stream_starting_mid_frame_resyncs_on_the_next_frame() -> None:
    results = _framer().feed(LOCATION[25:] + HEARTBEAT)
    assert _wires(results) == [HEARTBEAT]
    assert _errors(results)


def test_truncated_frame_followed_by_a_good_one_costs_only_the_truncated_one() -> None:
    truncated = LOCATION[:30]  # lost its tail and closing 7e
    results = _framer().feed(truncated + HEARTBEAT)
    assert _wires(results) == [HEARTBEAT]
    assert len(_errors(results)) == 1


def test_bad_check_code_frame_does_not_swallow_the_next_frame() -> None:
    bad = bytes.fromhex(FRAMES[12]["frame_hex"])
    results = _framer().feed(bad + HEARTBEAT)
    assert _wires(results) == [HEARTBEAT]
    assert _errors(results) == ["checksum mismatch (frame says 54, computed 53)"]


def test_doubled_delimiters_between_frames_are_not_errors() -> None:
    results = _framer().feed(HEARTBEAT + b"\x7e" + LOCATION)
    assert _wires(results) == [HEARTBEAT, LOCATION]
    assert _errors(results) == []


def _escaped(content: bytes) -> bytes:
    return content.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def test_unescaped_7e_in_a_body_whose_check_code_is_escaped_still_frames() -> None:
    # A 0x0200 of terminal 013912345678 whose 5-byte body holds a 0x7e its firmware did not
    # escape, and whose check code (0x7d) is escaped as 7d 01 right before the closing 7e.
    header = bytes.fromhex("02000005013912345678002a")
    body = b"\x01\x7e\x02\x03"
    body += bytes((xor_checksum(header + body) ^ 0x7D,))
    content = header + body + b"\x7d"
    assert check_content(content) is None
    wire = b"\x7e" + _escaped(header) + body[:1] + b"\x7e" + _escaped(body[2:] + b"\x7d") + b"\x7e"
    assert wire.endswith(b"\x7d\x01\x7e")
    results = _framer().feed(wire + HEARTBEAT)
    assert _errors(results) == []
    assert _wires(results) == [wire, HEARTBEAT]
    assert isinstance(results[0], RawFrame) and results[0].content == content


def test_invalid_escape_rejects_the_frame() -> None:
    broken = HEARTBEAT[:5] + b"\x7d\x05" + HEARTBEAT[5:]
    results = _framer().feed(broken)
    assert _errors(results) == ["invalid escape at offset 4: 7d 05"]
    assert _wires(results) == []


def test_unterminated_frame_is_reported_at_flush() -> None:
    framer = _framer()
    assert framer.feed(LOCATION[:-1]) == []
    (error,) = framer.flush()
    assert error.reason == "incomplete frame (no closing 0x7e)"
    assert error.raw == LOCATION[:-1]


def test_overlong_frame_is_dropped_and_the_framer_keeps_going() -> None:
    framer = Jt808Framer(max_frame_bytes=64)
    results = framer.feed(b"\x7e" + b"\x00" * 100)
    assert _errors(results) == ["frame too long (no closing 0x7e)"]
    assert _wires(framer.feed(HEARTBEAT)) == [HEARTBEAT]


def test_codec_accepts_hex_text_with_whitespace_and_several_frames() -> None:
    text = f"  {HEARTBEAT.hex().upper()}\n{LOCATION.hex()[:40]} {LOCATION.hex()[40:]}\n"
    outcome = Jt808Codec().decode(text.encode(), RECEIVED)
    assert outcome.rejects == ()
    assert [f.device_id for f in outcome.fixes] == ["1601285614"]


def test_codec_rejects_hex_text_with_an_odd_digit_count() -> None:
    outcome = Jt808Codec().decode(HEARTBEAT.hex().encode() + b"0", RECEIVED)
    assert [r.reason for r in outcome.rejects] == ["hex text with an odd number of digits"]


def test_decode_messages_returns_every_verified_message_for_replies() -> None:
    messages, rejects = decode_messages(HEARTBEAT + LOCATION)
    assert rejects == []
    assert [m.header.msg_id for m in messages] == [0x0002, 0x0200]
    assert messages[1].wire == LOCATION
