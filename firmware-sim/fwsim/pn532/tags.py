"""ISO 14443-A tags for the PN532 simulator: an NXP NTAG213 and a Mifare Classic 1K card.

A tag answers one RF command at a time (:meth:`SimTag.transceive`) with its response bytes
(without CRC_A; the chip adds it when the host disabled its own CRC check), a one-byte 4-bit
ACK/NAK, or ``None`` when it stays mute. Memory layout and answers follow the NXP NTAG213/215/216
data sheet (rev. 3.2, sections 8.5 and 10): UID/BCC in pages 0-2, the capability container
``E1 10 12 00`` in page 3, user memory in pages 4-39 (0x04-0x27), configuration in pages 40-44,
READ returning 4 pages with roll-over, GET_VERSION ``00 04 04 02 01 00 0F 03``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum

from fwsim.pn532.ndef import ndef_tlv

__all__ = [
    "ACK_4BIT",
    "NAK_4BIT",
    "MifareClassic1k",
    "Ntag213",
    "SimTag",
    "TagState",
    "crc_a",
]

ACK_4BIT = 0x0A
NAK_4BIT = 0x00
_CASCADE_TAG = 0x88
_NXP = 0x04


def crc_a(data: bytes) -> bytes:
    """ISO/IEC 14443-3 CRC_A (initial value 6363h, reflected polynomial 8408h), LSB first."""
    crc = 0x6363
    for byte in data:
        byte ^= crc & 0xFF
        byte = (byte ^ (byte << 4)) & 0xFF
        crc = ((crc >> 8) ^ (byte << 8) ^ (byte << 3) ^ (byte >> 4)) & 0xFFFF
    return bytes([crc & 0xFF, crc >> 8])


class TagState(Enum):
    """ISO 14443-3 state, reduced to what matters here."""

    IDLE = "idle"
    ACTIVE = "active"
    HALT = "halt"


class SimTag(ABC):
    """A Type A tag in the field: identity for anticollision and a command handler."""

    def __init__(self, uid: bytes, atqa: int, sak: int) -> None:
        self.uid = bytes(uid)
        self.atqa = atqa
        self.sak = sak
        self.state = TagState.IDLE

    @property
    def sens_res(self) -> bytes:
        """ATQA as the PN532 reports it in InListPassiveTarget (most significant byte first)."""
        return self.atqa.to_bytes(2, "big")

    def select(self) -> None:
        self.state = TagState.ACTIVE

    def reset(self) -> None:
        """The RF field went off: the tag loses power and its state."""
        self.state = TagState.IDLE

    def transceive(self, command: bytes) -> bytes | None:
        """Answer one command, or ``None`` if the tag stays mute (and drops to IDLE)."""
        if self.state is not TagState.ACTIVE or not command:
            return None
        answer = self._handle(command)
        if answer is None:
            self.state = TagState.IDLE
        return answer

    @abstractmethod
    def _handle(self, command: bytes) -> bytes | None: ...


class Ntag213(SimTag):
    """NXP NTAG213: 7-byte UID, 45 pages of 4 bytes, NDEF-formatted user memory.

    ``ndef`` is the NDEF message (e.g. from :mod:`fwsim.pn532.ndef`); it is stored in an NDEF
    Message TLV at page 4, as a factory-formatted NTAG213 holds it.
    """

    PAGES = 45
    USER_FIRST_PAGE = 4
    USER_PAGES = 36
    VERSION = bytes.fromhex("0004040201000F03")
    CC = bytes.fromhex("E1101200")

    def __init__(self, uid: bytes, ndef: bytes = b"") -> None:
        if len(uid) != 7 or uid[0] != _NXP:
            raise ValueError("an NTAG213 UID is 7 bytes starting with the NXP code 04")
        super().__init__(uid, atqa=0x0044, sak=0x00)
        self.memory = bytearray(self.PAGES * 4)
        self._layout(ndef)
        self.read_count = 0

    @property
    def bcc0(self) -> int:
        return _CASCADE_TAG ^ self.uid[0] ^ self.uid[1] ^ self.uid[2]

    @property
    def bcc1(self) -> int:
        return self.uid[3] ^ self.uid[4] ^ self.uid[5] ^ self.uid[6]

    def _layout(self, ndef: bytes) -> None:
        mem = self.memory
        mem[0:4] = self.uid[0:3] + bytes([self.bcc0])
        mem[4:8] = self.uid[3:7]
        mem[8:12] = bytes([self.bcc1, 0x48, 0x00, 0x00])
        mem[12:16] = self.CC
        user = ndef_tlv(ndef) if ndef else b"\x03\x00\xfe"
        if len(user) > self.USER_PAGES * 4:
            raise ValueError("NDEF message does not fit the 144-byte user memory")
        mem[16 : 16 + len(user)] = user
        mem[0x28 * 4 : 0x2D * 4] = bytes.fromhex("000000BD 040000FF 00050000 FFFFFFFF 00000000")

    def page_bytes(self, page: int) -> bytes:
        """Four bytes as READ returns them (the password page reads as zeros)."""
        if page == 0x2B:
            return bytes(4)
        return bytes(self.memory[page * 4 : page * 4 + 4])

    def _handle(self, command: bytes) -> bytes | None:
        code = command[0]
        if code == 0x30 and len(command) == 2:  # READ
            page = command[1]
            if page >= self.PAGES:
                return bytes([NAK_4BIT])
            self.read_count += 1
            return b"".join(self.page_bytes((page + i) % self.PAGES) for i in range(4))
        if code == 0x3A and len(command) == 3:  # FAST_READ
            start, end = command[1], command[2]
            if start > end or end >= self.PAGES:
                return bytes([NAK_4BIT])
            return b"".join(self.page_bytes(p) for p in range(start, end + 1))
        if code == 0x60 and len(command) == 1:  # GET_VERSION
            return self.VERSION
        if code == 0x3C and len(command) == 2:  # READ_SIG: a fixed, fake signature
            return bytes(32)
        if code == 0xA2 and len(command) == 6:  # WRITE (user memory only)
            page = command[1]
            if not self.USER_FIRST_PAGE <= page < self.USER_FIRST_PAGE + self.USER_PAGES:
                return bytes([NAK_4BIT])
            self.memory[page * 4 : page * 4 + 4] = command[2:6]
            return bytes([ACK_4BIT])
        if code == 0x50:  # HLTA
            self.state = TagState.HALT
            return None
        return None  # unsupported (e.g. Ultralight C AUTHENTICATE 1A): mute, back to IDLE


class MifareClassic1k(SimTag):
    """Mifare Classic 1K "IC card": 4-byte UID, ATQA 00 04, SAK 08.

    Read by UID only: the Crypto-1 authentication is not simulated, so every command after
    selection leaves the card mute, as a real card is to an unauthenticated READ.
    """

    def __init__(self, uid: bytes) -> None:
        if len(uid) != 4 or uid[0] == _CASCADE_TAG:
            raise ValueError("a Mifare Classic 1K single-size UID is 4 bytes, not starting 88")
        super().__init__(uid, atqa=0x0004, sak=0x08)

    @property
    def bcc(self) -> int:
        return self.uid[0] ^ self.uid[1] ^ self.uid[2] ^ self.uid[3]

    def _handle(self, command: bytes) -> bytes | None:
        return None
