"""Hostile input to the field-device codecs: ZKTeco PUSH (ATTLOG, command results), the ZKTeco
binary protocol (TCP framer, packets, attendance buffers, live events) and EM4100 readers.

None raises on any bytes (the ZKTeco binary decoders may raise only their ``DecodeError``), and
what they return is well-formed. See ``tests/unit/drivers/fuzzing.py`` for a longer campaign.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.em4100.codec import FrameRejected, make_framer
from drivers.em4100.frames import RejectReason, TagRead, Variant
from drivers.zkteco.binary_codec import TcpFramer, parse_packet
from drivers.zkteco.binary_records import (
    decode_attendance_buffer,
    decode_free_sizes,
    decode_live_event,
)
from drivers.zkteco.push_codec import (
    count_records,
    parse_attlog,
    parse_devicecmd,
    parse_handshake,
    parse_info,
)
from gateway.errors import DecodeError
from tests.unit.drivers.fuzzing import assert_well_formed_reject, fuzz_settings, is_aware

RECEIVED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

_ATTLOG_FIELD = st.one_of(
    st.text(alphabet=st.sampled_from("0123456789-/: T"), max_size=20),
    st.sampled_from(["2026-03-01 08:00:00", "0001-01-01 00:00:00", "9999-12-31 23:59:59"]),
    st.text(max_size=10),
)


@fuzz_settings
@given(
    body=st.binary(max_size=2048)
    | st.lists(st.lists(_ATTLOG_FIELD, max_size=6), max_size=6).map(
        lambda rows: "\n".join("\t".join(r) for r in rows).encode("utf-8", "surrogatepass")
    ),
    zone=st.sampled_from(["Asia/Shanghai", "UTC", "Pacific/Kiritimati", "Etc/GMT+12"]),
)
def test_attlog_bodies_never_raise_and_punches_are_well_formed(body: bytes, zone: str) -> None:
    batch = parse_attlog(body, terminal_id="ZK-1", received_at=RECEIVED, zone=zone)
    for punch in batch.punches:
        assert is_aware(punch.punched_at) and is_aware(punch.received_at)
        assert punch.person_id
    for reject in batch.rejects:
        assert_well_formed_reject(reject)
    assert len(batch.punches) + len(batch.rejects) == batch.processed


@fuzz_settings
@given(body=st.binary(max_size=2048), info=st.text(max_size=200))
def test_other_push_bodies_and_parameters_never_raise(body: bytes, info: str) -> None:
    parse_devicecmd(body)
    count_records(body)
    parse_info(info)
    try:
        parse_handshake({"SN": info, "options": "all", "pushver": info[:5]})
    except ValueError as exc:  # its contract: a request without SN
        assert "without SN" in str(exc)


@pytest.mark.parametrize("verify", [True, False])
@fuzz_settings
@given(chunks=st.lists(st.binary(max_size=600), max_size=6))
def test_zk_tcp_framer_never_raises(verify: bool, chunks: list[bytes]) -> None:
    framer = TcpFramer(verify_checksum=verify)
    for chunk in chunks:
        framer.feed(chunk)


@fuzz_settings
@given(
    data=st.binary(max_size=1024),
    count=st.none() | st.integers(min_value=-5, max_value=10**6),
)
def test_zk_binary_decoders_raise_only_decode_errors(data: bytes, count: int | None) -> None:
    for call in (
        lambda: parse_packet(data),
        lambda: parse_packet(data, verify=False),
        lambda: decode_free_sizes(data),
    ):
        with contextlib.suppress(DecodeError):
            call()
    records, errors = decode_attendance_buffer(data, count)
    live, live_errors = decode_live_event(data)
    for record in [*records, *live]:
        assert record.timestamp.tzinfo is None  # terminal local time, zoned by the driver
    for error in [*errors, *live_errors]:
        assert error.reason


@pytest.mark.parametrize("variant", list(Variant))
@fuzz_settings
@given(
    chunks=st.lists(
        st.binary(max_size=200)
        | st.text(alphabet=st.sampled_from("\x02\x030123456789ABCDEFabcdef\r\n"), max_size=200).map(
            str.encode
        ),
        max_size=6,
    )
)
def test_em4100_framers_never_raise(variant: Variant, chunks: list[bytes]) -> None:
    framer = make_framer(variant)
    outputs = []
    for chunk in chunks:
        outputs.extend(framer.feed(chunk))
    outputs.extend(framer.flush())
    for item in outputs:
        if isinstance(item, TagRead):
            assert item.tag_id and item.variant == variant
        else:
            assert isinstance(item, FrameRejected) and item.reason in RejectReason
