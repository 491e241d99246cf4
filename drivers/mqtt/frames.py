"""Frames between the gateway and its MQTT ingest process: a 4-byte big-endian length, then a
pickle of a tuple whose first item names the frame.

Both ends are this package, started together from the same installation, so pickle's reach
(any object) is not a trust boundary here; nothing else writes to these pipes. A pickle of plain
tuples of ``str``, ``bytes`` and ``int`` is read back at C speed, which is the point: the
receiving side runs under the pipeline's interpreter lock.
"""

from __future__ import annotations

import pickle
import struct
from typing import IO, Any

__all__ = ["MAX_FRAME_BYTES", "FrameError", "read_frame", "write_frame"]

_HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 256 * 1024 * 1024
"""Larger than any batch the child sends (its buffer holds a bounded number of messages of at
most the broker's message size); a longer length means the stream is out of step."""


class FrameError(Exception):
    """The stream does not hold a frame where one should start (cut short, or out of step)."""


def write_frame(stream: IO[bytes], frame: tuple[Any, ...]) -> None:
    """Write one frame and flush it. The caller serialises writers (one lock per stream)."""
    body = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """The next frame, or ``None`` at a clean end of the stream (the other side closed it
    between two frames). Raises :class:`FrameError` for a stream cut inside a frame."""
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {length} bytes announced: the stream is out of step")
    body = _read_exactly(stream, length)
    if body is None:
        raise FrameError(f"stream ended inside a frame of {length} bytes")
    frame = pickle.loads(body)
    if not isinstance(frame, tuple) or not frame or not isinstance(frame[0], str):
        raise FrameError(f"not a frame: {type(frame).__name__}")
    return frame


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = [b""]
    wanted = size
    while wanted:
        chunk = stream.read(wanted)
        if not chunk:
            if wanted == size:
                return None
            raise FrameError(f"stream ended {wanted} bytes short of {size}")
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)
