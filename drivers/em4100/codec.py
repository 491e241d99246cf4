"""Incremental framers for EM4100 reader output (sans-I/O): bytes in, tag reads and rejects out.

``make_framer(variant)`` returns a framer whose ``feed(data)`` takes any chunk of the byte
stream (a byte at a time, or many frames at once) and returns, in stream order, a ``TagRead``
for every valid frame and a ``FrameRejected`` (reason + the offending bytes) for everything
else. A framer never raises on input and always resynchronises:

* ``rdm6300``: bytes before an STX are garbage (one reject per run, CR/LF between frames are
  ignored); an STX inside a frame cuts it (reject ``cut``) and starts a new one, so a frame that
  lost its ETX costs only itself; more than ``MAX_FRAME`` bytes without ETX is ``no_etx``.
* ``decimal`` / ``wiegand26`` / ``wiegand34``: one credential per line, CR or LF ends a line,
  blank lines are skipped; a line longer than ``MAX_LINE`` is rejected whole (``length``) and
  reading resumes after its terminator.

``flush()`` turns whatever is buffered (a partial frame when the line goes down) into rejects,
so a reconnect never glues two halves together. What each variant means and the ``tag_id`` it
gives are in ``drivers.em4100.frames``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from drivers.em4100.frames import (
    ETX,
    STX,
    Em4100DecodeError,
    RejectReason,
    TagRead,
    Variant,
    decode_decimal_line,
    decode_rdm6300,
    decode_wiegand_line,
    em4100_decimal_id,
    em4100_wiegand26_id,
)
from gateway.errors import ConfigError

__all__ = [
    "MAX_FRAME",
    "MAX_GARBAGE",
    "MAX_LINE",
    "FrameRejected",
    "Framer",
    "LineFramer",
    "Output",
    "Rdm6300Framer",
    "RejectReason",
    "TagRead",
    "Variant",
    "em4100_decimal_id",
    "em4100_wiegand26_id",
    "make_framer",
]

MAX_FRAME = 32
"""Bytes after STX (ETX excluded) before an unterminated frame is given up."""
MAX_GARBAGE = 64
"""Garbage is reported in runs of at most this many bytes."""
MAX_LINE = 64
"""Longest line (terminator excluded) the line variants accept before rejecting it."""

_CR = 0x0D
_LF = 0x0A


@dataclass(frozen=True, slots=True)
class FrameRejected:
    """Input a framer refused: ``reason`` (the counter key), the bytes, and a human detail."""

    reason: RejectReason
    raw: bytes
    detail: str = ""


Output = TagRead | FrameRejected


class Framer(Protocol):
    """An incremental framer: stream bytes in, reads and rejects out, in stream order."""

    @property
    def variant(self) -> Variant: ...

    def feed(self, data: bytes) -> list[Output]: ...

    def flush(self) -> list[Output]: ...


def _reject(exc: Em4100DecodeError) -> FrameRejected:
    return FrameRejected(exc.code, bytes(exc.raw), exc.detail)


class Rdm6300Framer:
    """Cuts ``STX ... ETX`` frames out of a byte stream (see the module docstring)."""

    def __init__(self) -> None:
        self._frame = bytearray()
        self._in_frame = False
        self._garbage = bytearray()

    @property
    def variant(self) -> Variant:
        return Variant.RDM6300

    def feed(self, data: bytes) -> list[Output]:
        out: list[Output] = []
        for byte in data:
            if self._in_frame:
                self._in_frame_byte(byte, out)
            elif byte == STX:
                self._flush_garbage(out)
                self._in_frame = True
            elif byte in (_CR, _LF) and not self._garbage:
                continue
            else:
                self._garbage.append(byte)
                if len(self._garbage) >= MAX_GARBAGE:
                    self._flush_garbage(out)
        return out

    def flush(self) -> list[Output]:
        out: list[Output] = []
        self._flush_garbage(out)
        if self._in_frame:
            out.append(
                FrameRejected(
                    RejectReason.CUT, bytes([STX]) + self._frame, "stream ended inside a frame"
                )
            )
            self._frame.clear()
            self._in_frame = False
        return out

    def _in_frame_byte(self, byte: int, out: list[Output]) -> None:
        if byte == STX:
            out.append(
                FrameRejected(
                    RejectReason.CUT,
                    bytes([STX]) + self._frame,
                    f"new STX after {len(self._frame)} bytes without ETX",
                )
            )
            self._frame.clear()
        elif byte == ETX:
            frame = bytes([STX]) + self._frame + bytes([ETX])
            self._frame.clear()
            self._in_frame = False
            try:
                out.append(decode_rdm6300(frame))
            except Em4100DecodeError as exc:
                out.append(_reject(exc))
        else:
            self._frame.append(byte)
            if len(self._frame) > MAX_FRAME:
                out.append(
                    FrameRejected(
                        RejectReason.NO_ETX,
                        bytes([STX]) + self._frame,
                        f"{len(self._frame)} bytes after STX and no ETX",
                    )
                )
                self._frame.clear()
                self._in_frame = False

    def _flush_garbage(self, out: list[Output]) -> None:
        if self._garbage:
            out.append(
                FrameRejected(RejectReason.GARBAGE, bytes(self._garbage), "bytes outside any frame")
            )
            self._garbage.clear()


class LineFramer:
    """Cuts CR/LF-terminated lines and decodes each with ``decode(line, raw)``."""

    def __init__(self, variant: Variant, decode: Callable[[bytes, bytes], TagRead]) -> None:
        self._variant = variant
        self._decode = decode
        self._line = bytearray()
        self._overlong = False

    @property
    def variant(self) -> Variant:
        return self._variant

    def feed(self, data: bytes) -> list[Output]:
        out: list[Output] = []
        for byte in data:
            if byte in (_CR, _LF):
                self._end_line(bytes([byte]), out)
                continue
            self._line.append(byte)
            if len(self._line) > MAX_LINE and not self._overlong:
                out.append(
                    FrameRejected(
                        RejectReason.LENGTH, bytes(self._line), f"line over {MAX_LINE} bytes"
                    )
                )
                self._overlong = True
            if self._overlong:
                # The rest of an overlong line is dropped up to its terminator.
                self._line.clear()
        return out

    def flush(self) -> list[Output]:
        out: list[Output] = []
        if self._line and not self._overlong:
            out.append(
                FrameRejected(RejectReason.CUT, bytes(self._line), "stream ended inside a line")
            )
        self._line.clear()
        self._overlong = False
        return out

    def _end_line(self, terminator: bytes, out: list[Output]) -> None:
        line = bytes(self._line)
        self._line.clear()
        if self._overlong:
            self._overlong = False
            return
        if not line.strip():
            return
        try:
            out.append(self._decode(line, line + terminator))
        except Em4100DecodeError as exc:
            out.append(_reject(exc))


def make_framer(variant: Variant | str) -> Framer:
    """A fresh framer for ``variant`` (``rdm6300``, ``decimal``, ``wiegand26``, ``wiegand34``)."""
    try:
        chosen = Variant(variant)
    except ValueError:
        names = ", ".join(v.value for v in Variant)
        raise ConfigError(
            f"unknown EM4100 reader variant {variant!r}; use one of {names}"
        ) from None
    if chosen is Variant.RDM6300:
        return Rdm6300Framer()
    if chosen is Variant.DECIMAL:
        return LineFramer(chosen, decode_decimal_line)

    def wiegand(line: bytes, raw: bytes) -> TagRead:
        return decode_wiegand_line(line, chosen, raw)

    return LineFramer(chosen, wiegand)
