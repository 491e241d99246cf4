"""The framers resynchronise after any damage and never lose a following valid frame."""

from __future__ import annotations

import pytest

from drivers.em4100.codec import (
    MAX_GARBAGE,
    FrameRejected,
    Output,
    RejectReason,
    TagRead,
    make_framer,
)
from gateway.errors import ConfigError

# The RDM630 data sheet's worked example and python-rdm6300's first valid card (tests/corpus).
SEEED = bytes.fromhex("0230313030303733344530443203")
PY_RDM = b"\x0267003B51C6CB\x03"


def _ids(out: list[Output]) -> list[str]:
    return [o.tag_id for o in out if isinstance(o, TagRead)]


def _reasons(out: list[Output]) -> list[RejectReason]:
    return [o.reason for o in out if isinstance(o, FrameRejected)]


def test_a_stream_split_at_every_byte_boundary_gives_the_same_reads() -> None:
    stream = SEEED + b"\xffjunk" + PY_RDM + SEEED
    for cut in range(len(stream) + 1):
        framer = make_framer("rdm6300")
        out = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        assert _ids(out) == ["01000734E0", "67003B51C6", "01000734E0"], cut
        assert _reasons(out) == [RejectReason.GARBAGE], cut


def test_a_stream_fed_one_byte_at_a_time_gives_the_same_reads() -> None:
    framer = make_framer("rdm6300")
    out: list[Output] = []
    for byte in SEEED * 3:
        out += framer.feed(bytes([byte]))
    assert _ids(out) == ["01000734E0"] * 3
    assert _reasons(out) == []


def test_garbage_between_frames_is_one_reject_and_keeps_its_bytes() -> None:
    out = make_framer("rdm6300").feed(SEEED + b"\x00\xfe\x41" + PY_RDM)
    assert _ids(out) == ["01000734E0", "67003B51C6"]
    (reject,) = [o for o in out if isinstance(o, FrameRejected)]
    assert reject.raw == b"\x00\xfe\x41"


def test_crlf_between_frames_is_not_counted_as_garbage() -> None:
    out = make_framer("rdm6300").feed(SEEED + b"\r\n" + PY_RDM + b"\r\n")
    assert _ids(out) == ["01000734E0", "67003B51C6"]
    assert _reasons(out) == []


def test_id12_style_crlf_before_etx_is_accepted() -> None:
    out = make_framer("rdm6300").feed(SEEED[:-1] + b"\r\n\x03")
    assert _ids(out) == ["01000734E0"]


def test_a_frame_cut_by_a_new_stx_is_rejected_and_the_next_frame_passes() -> None:
    out = make_framer("rdm6300").feed(SEEED[:7] + PY_RDM)
    assert _reasons(out) == [RejectReason.CUT]
    assert _ids(out) == ["67003B51C6"]
    assert out[0].raw == SEEED[:7]


def test_a_frame_that_lost_its_etx_costs_only_itself() -> None:
    out = make_framer("rdm6300").feed(SEEED[:-1] + PY_RDM + SEEED)
    assert _reasons(out) == [RejectReason.CUT]
    assert _ids(out) == ["67003B51C6", "01000734E0"]


def test_bad_checksum_is_rejected_and_the_stream_goes_on() -> None:
    bad = SEEED[:11] + b"D3" + b"\x03"
    out = make_framer("rdm6300").feed(bad + SEEED)
    assert _reasons(out) == [RejectReason.CHECKSUM]
    assert _ids(out) == ["01000734E0"]
    assert out[0].raw == bad


def test_lower_case_hex_is_accepted_and_normalised_to_upper_case() -> None:
    out = make_framer("rdm6300").feed(b"\x0262e3086ced08\x03")
    assert _ids(out) == ["62E3086CED"]


def test_non_hex_inside_a_frame_is_rejected() -> None:
    out = make_framer("rdm6300").feed(b"\x0262E3086CEG08\x03" + SEEED)
    assert _reasons(out) == [RejectReason.NON_HEX]
    assert _ids(out) == ["01000734E0"]


def test_an_endless_frame_is_given_up_and_reading_resumes() -> None:
    out = make_framer("rdm6300").feed(b"\x02" + b"A" * 100 + SEEED)
    assert RejectReason.NO_ETX in _reasons(out)
    assert _ids(out) == ["01000734E0"]


def test_long_garbage_is_reported_in_bounded_runs() -> None:
    out = make_framer("rdm6300").feed(b"\x55" * (MAX_GARBAGE * 3) + SEEED)
    rejects = [o for o in out if isinstance(o, FrameRejected)]
    assert all(len(r.raw) <= MAX_GARBAGE for r in rejects)
    assert sum(len(r.raw) for r in rejects) == MAX_GARBAGE * 3
    assert _ids(out) == ["01000734E0"]


def test_flush_turns_a_half_read_frame_into_a_cut_reject() -> None:
    framer = make_framer("rdm6300")
    assert framer.feed(SEEED[:6]) == []
    assert _reasons(framer.flush()) == [RejectReason.CUT]
    assert _ids(framer.feed(SEEED[6:] + SEEED)) == ["01000734E0"]


def test_decimal_lines_accept_crlf_lf_and_cr_terminators() -> None:
    out = make_framer("decimal").feed(b"0003887558\r\n0045131261\n0040856634\r")
    assert _ids(out) == ["0003887558", "0045131261", "0040856634"]
    assert _reasons(out) == []


def test_decimal_noise_line_is_rejected_and_the_next_line_passes() -> None:
    out = make_framer("decimal").feed(b"\x00\xffzz\r\n00038X7558\r\n0003887558\r\n")
    assert _reasons(out) == [RejectReason.NON_DECIMAL, RejectReason.NON_DECIMAL]
    assert _ids(out) == ["0003887558"]


def test_decimal_number_above_32_bits_or_of_wrong_length_is_rejected() -> None:
    out = make_framer("decimal").feed(b"9999999999\r\n12345\r\n")
    assert _reasons(out) == [RejectReason.RANGE, RejectReason.LENGTH]


def test_an_overlong_line_is_rejected_once_and_the_next_line_passes() -> None:
    out = make_framer("decimal").feed(b"1" * 500 + b"\r\n0003887558\r\n")
    assert _reasons(out) == [RejectReason.LENGTH]
    assert _ids(out) == ["0003887558"]


def test_wiegand_line_split_at_every_byte_boundary_gives_the_same_read() -> None:
    # jessety/wiegand-encoder: facility 90, card 324 (tests/corpus/em4100/wiegand_vectors.json)
    stream = b"00101101000000001010001000\r\n" * 2
    for cut in range(len(stream) + 1):
        framer = make_framer("wiegand26")
        out = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        assert _ids(out) == ["090:00324", "090:00324"], cut


def test_unknown_variant_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="wiegand26"):
        make_framer("wiegand37")
