"""The frames between the gateway and its MQTT ingest process (``drivers.mqtt.frames``)."""

from __future__ import annotations

import io
import pickle
import struct
from typing import IO, cast

import pytest

from drivers.mqtt.frames import MAX_FRAME_BYTES, FrameError, read_frame, write_frame


def test_frames_come_back_in_order_and_a_clean_end_reads_as_none() -> None:
    stream = io.BytesIO()
    rows = [("devices/T-1/json", b"\x00\xff{}", 1, False, 7, 3)] * 3
    write_frame(stream, ("messages", rows, {"connected": True}))
    write_frame(stream, ("stop",))
    stream.seek(0)
    assert read_frame(stream) == ("messages", rows, {"connected": True})
    assert read_frame(stream) == ("stop",)
    assert read_frame(stream) is None


class _Trickle(io.RawIOBase):
    """A pipe that hands out at most three bytes a read."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk, self._data = self._data[: min(size, 3)], self._data[min(size, 3) :]
        return chunk


def test_a_frame_read_in_pieces_is_whole() -> None:
    written = io.BytesIO()
    write_frame(written, ("ack", [(n, 1, 1) for n in range(100)]))
    trickle = cast(IO[bytes], _Trickle(written.getvalue()))
    assert read_frame(trickle) == ("ack", [(n, 1, 1) for n in range(100)])


@pytest.mark.parametrize("cut", [2, 4, 10])
def test_a_stream_cut_inside_a_frame_is_an_error_not_an_end(cut: int) -> None:
    written = io.BytesIO()
    write_frame(written, ("publish", "devices/T-1/reply", b"x" * 20, 1))
    with pytest.raises(FrameError, match="ended"):
        read_frame(io.BytesIO(written.getvalue()[:cut]))


def test_a_length_past_the_limit_means_the_stream_is_out_of_step() -> None:
    with pytest.raises(FrameError, match="out of step"):
        read_frame(io.BytesIO(struct.pack(">I", MAX_FRAME_BYTES + 1) + b"junk"))


def test_a_body_that_is_not_a_named_frame_is_refused() -> None:
    other = pickle.dumps([1, 2])
    with pytest.raises(FrameError, match="not a frame"):
        read_frame(io.BytesIO(struct.pack(">I", len(other)) + other))
