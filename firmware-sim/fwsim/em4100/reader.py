"""A simulated EM4100 serial reader: repeats a tag's frame while "the card is on it".

Frames are built from the published formats, independently of the gateway's decoder:

* ``rdm6300``: ``02`` + 10 upper-case hex digits + 2 hex digits of XOR of the 5 id bytes + ``03``
  (RDM630 data sheet), repeated while the card is present.
* ``decimal``: the id's low 32 bits as 10 decimal digits + ``CR LF`` (readers set to "8H>10D").
* ``wiegand26``: a Wiegand-to-serial converter's line: even parity over the first 12 data bits,
  the id's low 24 bits, odd parity over the last 12, as ``0``/``1`` characters + ``CR LF``.
* ``wiegand34``: the same with the low 32 bits and 16-bit parity halves.

Faults: line ``noise``, a ``partial_frame`` (the start of a frame, then nothing), a frame with a
wrong check (``bad_checksum``), ``unplug``/``replug`` of the pseudo-terminal. Timing uses real
sleeps: this is a device, it lives in wall time.
"""

from __future__ import annotations

import string
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from fwsim.pty import PtyPair

__all__ = ["VARIANTS", "SimulatedEm4100Reader", "encode_frame"]

VARIANTS = ("rdm6300", "decimal", "wiegand26", "wiegand34")
_DEFAULT_NOISE = b"\x00\xff\x7f\x13\x11noise\x80\xfe"


def _tag_value(tag_hex: str) -> int:
    if len(tag_hex) != 10 or not set(tag_hex) <= set(string.hexdigits):
        raise ValueError(f"an EM4100 tag is 10 hex digits, got {tag_hex!r}")
    return int(tag_hex, 16)


def _wiegand_line(data: int, data_bits: int, *, break_parity: bool = False) -> bytes:
    bits = format(data, f"0{data_bits}b")
    half = data_bits // 2
    leading = bits[:half].count("1") % 2  # makes the first half even
    trailing = 1 - bits[half:].count("1") % 2  # makes the second half odd
    if break_parity:
        trailing ^= 1
    return f"{leading}{bits}{trailing}\r\n".encode("ascii")


def encode_frame(variant: str, tag_hex: str, *, corrupt_check: bool = False) -> bytes:
    """The bytes a reader in ``variant`` sends for EM4100 tag ``tag_hex`` (10 hex digits).

    ``corrupt_check`` spoils the frame's check: the XOR checksum (``rdm6300``), the trailing
    parity bit (Wiegand); ``decimal`` has no check, so a digit becomes a letter instead.
    """
    value = _tag_value(tag_hex)
    if variant == "rdm6300":
        data = value.to_bytes(5, "big")
        checksum = 0
        for byte in data:
            checksum ^= byte
        if corrupt_check:
            checksum ^= 0x5A
        return b"\x02" + f"{value:010X}{checksum:02X}".encode("ascii") + b"\x03"
    if variant == "decimal":
        digits = f"{value & 0xFFFFFFFF:010d}"
        if corrupt_check:
            digits = digits[:4] + "X" + digits[5:]
        return (digits + "\r\n").encode("ascii")
    if variant == "wiegand26":
        return _wiegand_line(value & 0xFFFFFF, 24, break_parity=corrupt_check)
    if variant == "wiegand34":
        return _wiegand_line(value & 0xFFFFFFFF, 32, break_parity=corrupt_check)
    raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")


class SimulatedEm4100Reader:
    """An EM4100 reader behind a pseudo-terminal; open ``url`` on the gateway side.

    With ``stable_link`` (the default) ``url`` is a symlink that survives ``replug()``.
    """

    def __init__(
        self,
        variant: str = "rdm6300",
        *,
        stable_link: bool = True,
        link_dir: str | Path | None = None,
        link_name: str = "ttyEM0",
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
        self.variant = variant
        self._pty = PtyPair(stable_link=stable_link, link_dir=link_dir, link_name=link_name)
        self.frames_sent = 0

    @property
    def url(self) -> str:
        return self._pty.path

    @property
    def pty(self) -> PtyPair:
        return self._pty

    def frame(self, tag_hex: str) -> bytes:
        return encode_frame(self.variant, tag_hex)

    def send(self, tag_hex: str, count: int = 1) -> None:
        """Send the tag's frame ``count`` times back to back."""
        self._pty.write(self.frame(tag_hex) * count)
        self.frames_sent += count

    def present(self, tag_hex: str, seconds: float, repeat_ms: float = 150) -> int:
        """Hold the card on the reader: a frame now and every ``repeat_ms`` for ``seconds``.

        Blocks for about ``seconds``; returns the number of frames sent.
        """
        frame = self.frame(tag_hex)
        interval = repeat_ms / 1000.0
        start = time.monotonic()
        sent = 0
        while True:
            self._pty.write(frame)
            sent += 1
            next_at = start + sent * interval
            if next_at - start >= seconds:
                break
            time.sleep(max(0.0, next_at - time.monotonic()))
        self.frames_sent += sent
        return sent

    def noise(self, data: bytes | None = None) -> None:
        """Line noise: ``data`` as given, or a default burst (ending a line for line variants)."""
        if data is None:
            data = _DEFAULT_NOISE + (b"" if self.variant == "rdm6300" else b"\r\n")
        self._pty.write(data)

    def partial_frame(self, tag_hex: str = "0100000001") -> bytes:
        """The first half of a frame, never finished; returns what was sent."""
        frame = self.frame(tag_hex)
        part = frame[: len(frame) // 2]
        self._pty.write(part)
        return part

    def bad_checksum(self, tag_hex: str) -> bytes:
        """A whole frame whose check is wrong; returns what was sent."""
        frame = encode_frame(self.variant, tag_hex, corrupt_check=True)
        self._pty.write(frame)
        return frame

    def unplug(self) -> None:
        self._pty.unplug()

    def replug(self) -> None:
        self._pty.replug()

    def close(self) -> None:
        self._pty.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
