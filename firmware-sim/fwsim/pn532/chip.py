"""The PN532's command set as its firmware answers it (sans-I/O).

:meth:`Pn532Chip.execute` takes the data of one host command frame (TFI ``D4`` excluded) and
returns the response data (TFI ``D5`` excluded), or ``None`` for a command the simulated
firmware does not know (the transport then sends the application error frame). Semantics follow
the PN532 User Manual UM0701-02, chapter 7; only what a reader driver needs is modelled: the
CIU registers are a plain memory, and RF traffic goes to the tag currently in the field.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from fwsim.pn532.tags import SimTag, TagState, crc_a

__all__ = ["FIRMWARE_VERSION", "Pn532Chip"]

log = logging.getLogger(__name__)

FIRMWARE_VERSION = bytes.fromhex("32010607")
"""IC = 0x32 (PN532), version 1.6, supports ISO 14443 A, B and 18092 (as shipped boards report)."""

# Status byte values (UM0701-02 table 4): 0x01 = the target has not answered (time out).
_STATUS_OK = 0x00
_STATUS_TIMEOUT = 0x01
_STATUS_BAD_PARAM = 0x10
_STATUS_NOT_ACCEPTABLE = 0x27

_CIU_FIFO_DATA = 0x6339
_CIU_RX_MODE = 0x6303
_CIU_TX_MODE = 0x6302
_RX_CRC_EN = 0x80
_SENS_REQ = 0x26

_REGISTER_DEFAULTS = {
    _CIU_TX_MODE: 0x80,
    _CIU_RX_MODE: 0x80,
    0x6305: 0x40,  # CIU_TxAuto: Force100ASK
    0x6304: 0x80,  # CIU_TxControl: field off
}


class Pn532Chip:
    """Command interpreter with a field holding at most one tag.

    Thread-safe: the simulator's I/O thread executes commands while a test moves tags.
    ``on_command`` is called with each executed command code (for logging and statistics).
    """

    def __init__(self, on_command: Callable[[int], None] | None = None) -> None:
        self._lock = threading.RLock()
        self._tag: SimTag | None = None
        self._selected: SimTag | None = None
        self.registers: dict[int, int] = dict(_REGISTER_DEFAULTS)
        self.rf_on = False
        self._on_command = on_command
        self._handlers: dict[int, Callable[[bytes], bytes | None]] = {
            0x00: self._diagnose,
            0x02: lambda _p: FIRMWARE_VERSION,
            0x04: self._general_status,
            0x06: self._read_register,
            0x08: self._write_register,
            0x10: lambda _p: b"",  # SetSerialBaudrate: a pty has no baud rate
            0x12: lambda _p: b"",  # SetParameters
            0x14: lambda _p: b"",  # SAMConfiguration
            0x16: self._power_down,
            0x32: self._rf_configuration,
            0x40: self._in_data_exchange,
            0x42: self._in_communicate_thru,
            0x44: self._in_release,  # InDeselect
            0x4A: self._in_list_passive_target,
            0x52: self._in_release,
        }

    # -- the field ---------------------------------------------------------------------------

    @property
    def tag(self) -> SimTag | None:
        with self._lock:
            return self._tag

    def present(self, tag: SimTag) -> None:
        """Put ``tag`` in the field (replacing any other)."""
        with self._lock:
            tag.reset()
            self._tag = tag
            self._selected = None

    def remove(self) -> None:
        """Take the tag out of the field."""
        with self._lock:
            if self._tag is not None:
                self._tag.reset()
            self._tag = None
            self._selected = None

    # -- commands ----------------------------------------------------------------------------

    def execute(self, command: bytes) -> bytes | None:
        """Run one command (code + parameters); return code+1 and the response data."""
        if not command:
            return None
        code, params = command[0], command[1:]
        handler = self._handlers.get(code)
        if handler is None:
            log.debug("pn532 sim: unknown command %02X", code)
            return None
        with self._lock:
            result = handler(params)
        if self._on_command is not None:
            self._on_command(code)
        if result is None:
            return None
        return bytes([code + 1]) + result

    def _diagnose(self, params: bytes) -> bytes | None:
        if params[:1] == b"\x00":  # communication line test: echo everything
            return params
        if params[:1] in (b"\x01", b"\x02"):  # ROM / RAM test: OK
            return b"\x00"
        return None

    def _general_status(self, _params: bytes) -> bytes:
        field = 1 if self.rf_on else 0
        if self._selected is None:
            return bytes([0x00, field, 0x00, 0x00])
        return bytes([0x00, field, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01])

    def _read_register(self, params: bytes) -> bytes:
        addresses = [int.from_bytes(params[i : i + 2], "big") for i in range(0, len(params), 2)]
        return bytes(self.registers.get(a, 0x00) for a in addresses)

    def _write_register(self, params: bytes) -> bytes:
        for i in range(0, len(params) - 2, 3):
            self.registers[int.from_bytes(params[i : i + 2], "big")] = params[i + 2]
        return b""

    def _power_down(self, _params: bytes) -> bytes:
        self._field(False)
        return bytes([_STATUS_OK])

    def _rf_configuration(self, params: bytes) -> bytes:
        if params[:1] == b"\x01" and len(params) >= 2:  # RF field item
            self._field(bool(params[1] & 0x01))
        return b""

    def _field(self, on: bool) -> None:
        self.rf_on = on
        self.registers[0x6304] = 0x83 if on else 0x80
        if not on:
            self._selected = None
            if self._tag is not None:
                self._tag.reset()

    def _in_list_passive_target(self, params: bytes) -> bytes | None:
        if len(params) < 2:
            return None
        max_tg, brty, initiator = params[0], params[1], params[2:]
        if not 1 <= max_tg <= 2:
            return None
        self._field(True)
        self.registers[_CIU_RX_MODE] = self.registers.get(_CIU_RX_MODE, 0) | _RX_CRC_EN
        tag = self._tag
        wanted = bytes(initiator)
        if len(wanted) == 8 and wanted[0] == 0x88:  # cascade tag before a double-size UID
            wanted = wanted[1:]
        if brty != 0x00 or tag is None or (wanted and wanted != tag.uid):
            # nothing answered SENS_REQ: it is still in the CIU FIFO
            self.registers[_CIU_FIFO_DATA] = _SENS_REQ
            return b"\x00"
        tag.select()
        self._selected = tag
        self.registers[_CIU_FIFO_DATA] = 0x00
        return b"\x01\x01" + tag.sens_res + bytes([tag.sak, len(tag.uid)]) + tag.uid

    def _in_release(self, _params: bytes) -> bytes:
        self._selected = None
        return bytes([_STATUS_OK])

    def _rf_exchange(self, data: bytes) -> bytes | None:
        tag = self._selected
        if tag is None or tag is not self._tag or not self.rf_on:
            return None
        answer = tag.transceive(data)
        if tag.state is not TagState.ACTIVE:
            self._selected = None
        return answer

    def _in_communicate_thru(self, params: bytes) -> bytes:
        answer = self._rf_exchange(params)
        if answer is None:
            return bytes([_STATUS_TIMEOUT])
        if len(answer) > 1 and not self.registers.get(_CIU_RX_MODE, 0) & _RX_CRC_EN:
            # The host switched off the CRC check: it gets (and checks) CRC_A itself.
            answer = answer + crc_a(answer)
        return bytes([_STATUS_OK]) + answer

    def _in_data_exchange(self, params: bytes) -> bytes:
        if len(params) < 2:
            return bytes([_STATUS_BAD_PARAM])
        if params[0] & 0x3F != 0x01:
            return bytes([_STATUS_NOT_ACCEPTABLE])
        answer = self._rf_exchange(params[1:])
        if answer is None:
            return bytes([_STATUS_TIMEOUT])
        return bytes([_STATUS_OK]) + answer
