"""JT/T 808 stream framing: cut ``0x7e ... 0x7e`` frames out of a byte stream.

The framer is fed bytes as they arrive (a TCP stream, a serial line, one MQTT payload) and yields
complete frames or errors; it never raises and never stops. What it does:

* Bytes before a ``0x7e`` are garbage: reported once as an error, then skipped (resync).
* ``7e 7e`` (an end delimiter read as a start, or an empty frame) restarts at the second ``7e``.
* Un-escaping in one pass: ``7d 02`` -> ``7e``, ``7d 01`` -> ``7d``; any other byte after ``7d`` is
  an invalid escape and the frame is rejected. One tolerance, from go-jt808's test vectors and
  real terminals: a bare ``7d`` as the very last byte before the closing ``7e`` is taken
  literally (it is the check code, which the terminal forgot to escape).
* A frame longer than :data:`MAX_FRAME_BYTES` (escaped) is dropped; the search restarts.
* :meth:`Jt808Framer.flush` reports a frame left open at the end of the input.
* With a ``validate`` function (the codec passes the header and check-code test), a candidate
  that fails it is reported and its closing ``7e`` is reused as the next frame's opening one.
  A stream that starts in the middle of a frame, or a frame cut short by a lost byte, then costs
  only the broken frame, never the good one after it. With ``frame_length`` too, a candidate
  shorter than its header declares is first retried up to the one later ``7e`` at which it
  would hold exactly the declared length (unescaped ``7e`` inside a frame, seen in real
  captures).
* Work is linear in the input: a run of broken frames (a bridge publishing the openings of a
  batch cut again and again) costs about what as many bytes of good frames cost, since each
  failed candidate is retried at one place only, checked there without un-escaping first.

The XOR check code and the header are checked by :func:`drivers.gps.jt808.message.parse_frame`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MAX_FRAME_BYTES", "FrameError", "Jt808Framer", "RawFrame", "unescape"]

FLAG = 0x7E
ESCAPE = 0x7D
MAX_FRAME_BYTES = 4096
"""Escaped length past which a frame is dropped (a full 1023-byte body escapes to ~2.1 kB)."""


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One delimited frame: ``wire`` as received (with both ``7e``), ``content`` un-escaped
    (without delimiters: header, body and check code)."""

    wire: bytes
    content: bytes


@dataclass(frozen=True, slots=True)
class FrameError:
    """Bytes the framer could not turn into a frame, and why."""

    reason: str
    raw: bytes


def unescape(escaped: bytes) -> bytes:
    """Un-escape the bytes between the delimiters. Raises ``ValueError`` on an invalid escape."""
    out = bytearray()
    i = 0
    last = len(escaped) - 1
    while i <= last:
        byte = escaped[i]
        if byte != ESCAPE:
            out.append(byte)
            i += 1
            continue
        if i == last:
            out.append(ESCAPE)  # bare 7d as the final (check code) byte: tolerated
            i += 1
            continue
        follower = escaped[i + 1]
        if follower == 0x02:
            out.append(FLAG)
        elif follower == 0x01:
            out.append(ESCAPE)
        else:
            raise ValueError(f"invalid escape at offset {i}: 7d {follower:02x}")
        i += 2
    return bytes(out)


def _escape_pairs(data: bytes | bytearray, start: int, stop: int) -> int:
    """How many ``7d 01`` / ``7d 02`` pairs lie within ``data[start:stop]`` (counted in C)."""
    return data.count(b"\x7d\x01", start, stop) + data.count(b"\x7d\x02", start, stop)


def _closing_flag(buf: bytearray, declared: int, limit: int) -> int | None:
    """The index of the one 7e before ``limit`` that can close the frame opening ``buf`` with
    ``declared`` un-escaped bytes, or ``None``.

    The wire bytes from ``buf[1]`` to an index ``i`` un-escape to ``i - 1`` less one per escape
    pair; that length grows by 0 or 1 a byte, so starting from ``declared + 1`` and stepping by
    what is still missing never overshoots, and reaches the first index of that length in a
    few steps (each at least halves what is missing over two). An escape pair cut at that index
    gives the same length one byte further.
    """
    close = 1 + declared
    while close < limit:
        missing = declared - (close - 1 - _escape_pairs(buf, 1, close))
        if missing <= 0:
            break
        close += missing
    else:
        return None
    if buf[close] == FLAG:
        return close
    cut_pair = buf[close - 1] == ESCAPE and buf[close] in (0x01, 0x02)
    if cut_pair and close + 1 < limit and buf[close + 1] == FLAG:
        return close + 1
    return None


def _plausible(escaped: bytes | bytearray) -> bool:
    """Whether escaped frame content has only valid escapes and a check code that agrees, found
    without un-escaping it: every 7d but a final bare one opens a pair, and since a pair XORs to
    its un-escaped byte with the lowest bit flipped, the content's XOR (the check code included,
    0 when it agrees) is the wire bytes' XOR with one flip per pair."""
    pairs = _escape_pairs(escaped, 0, len(escaped))
    bare = 1 if escaped.endswith(b"\x7d") else 0
    if escaped.count(ESCAPE) != pairs + bare:
        return False
    return _xor_of(escaped) ^ (pairs & 1) == 0


def _xor_of(data: bytes | bytearray) -> int:
    """The XOR of all bytes, by folding one big integer in halves (C speed, no per-byte loop)."""
    value = int.from_bytes(data, "little")
    width = len(data)
    while width > 1:
        half = (width + 1) // 2
        value = (value & ((1 << (8 * half)) - 1)) ^ (value >> (8 * half))
        width = half
    return value


class Jt808Framer:
    """Incremental frame cutter (module docstring). Not thread-safe; one per stream."""

    def __init__(
        self,
        validate: Callable[[bytes], str | None] | None = None,
        frame_length: Callable[[bytes], int | None] | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        """``validate(content)`` returns why un-escaped content is not a frame, or ``None``;
        ``frame_length(content)`` the un-escaped length its header declares (``None`` if the
        header is incomplete)."""
        self._buffer = bytearray()
        self._validate = validate
        self._frame_length = frame_length
        self._max = max_frame_bytes

    def feed(self, data: bytes) -> list[RawFrame | FrameError]:
        """Add bytes; return every frame (or error) completed by them, in stream order."""
        self._buffer.extend(data)
        results: list[RawFrame | FrameError] = []
        buf = self._buffer
        while buf:
            start = buf.find(FLAG)
            if start < 0:
                results.append(FrameError("garbage outside a frame", bytes(buf)))
                buf.clear()
                break
            if start > 0:
                results.append(FrameError("garbage outside a frame", bytes(buf[:start])))
                del buf[:start]
            end = buf.find(FLAG, 1)
            if end < 0:
                if len(buf) > self._max:
                    results.append(FrameError("frame too long (no closing 0x7e)", bytes(buf)))
                    buf.clear()
                break
            if end == 1:
                del buf[:1]  # "7e 7e": the first one closed something we never saw
                continue
            wire = bytes(buf[: end + 1])
            if len(wire) > self._max:
                del buf[: end + 1]
                results.append(FrameError("frame too long", wire))
                continue
            try:
                content = unescape(wire[1:-1])
            except ValueError as exc:
                del buf[:end]  # keep the closing 7e: it may open the next frame
                results.append(FrameError(str(exc), wire))
                continue
            problem = self._validate(content) if self._validate is not None else None
            if problem is None:
                del buf[: end + 1]
                results.append(RawFrame(wire, content))
                continue
            longer = self._extend(content)
            if longer is not None:
                del buf[: len(longer.wire)]
                results.append(longer)
                continue
            del buf[:end]
            results.append(FrameError(problem, wire))
        return results

    def _extend(self, content: bytes) -> RawFrame | None:
        """Retry the failed candidate opening the buffer as a longer one, inner 7e as data.

        Some terminals do not escape 0x7e inside vendor items (traccar's Shenzhen 2025 capture):
        when the header declares more bytes than the candidate holds, the frame may close at a
        later 7e. A frame holds exactly the length its header declares, so only one 7e can
        close it (:func:`_closing_flag`); that candidate is taken when its escapes are valid and
        its check code agrees (:func:`_plausible`, both found without un-escaping it), and it
        passes ``validate``. Chance agreement of all is negligible.

        Trying every later 7e instead, each candidate un-escaped and checked again from the
        opening one, made a run of cut frames quadratic: 16 kB of them held the caller ~20 s.
        """
        if self._frame_length is None or self._validate is None:
            return None
        declared = self._frame_length(content)
        if declared is None or len(content) >= declared:
            return None
        buf = self._buffer
        close = _closing_flag(buf, declared, min(len(buf), self._max))
        if close is None or not _plausible(buf[1:close]):
            return None
        wire = bytes(buf[: close + 1])
        try:
            longer = unescape(wire[1:-1])
        except ValueError:
            return None
        if len(longer) == declared and self._validate(longer) is None:
            return RawFrame(wire, longer)
        return None

    def flush(self) -> list[FrameError]:
        """End of input: report what is left in the buffer (an unterminated frame)."""
        if not self._buffer or self._buffer == b"\x7e":
            self._buffer.clear()
            return []
        left = bytes(self._buffer)
        self._buffer.clear()
        return [FrameError("incomplete frame (no closing 0x7e)", left)]
