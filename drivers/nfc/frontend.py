"""Opening an nfcpy contactless frontend from a reader path.

nfcpy's own paths are accepted unchanged: ``usb``, ``usb:054c:06c3``, ``tty:USB0:pn532``,
``tty:S0:pn532``, ``udp:host:port``. nfcpy 1.0.4 resolves ``tty:<port>:<driver>`` by listing
``/dev``: ``USB0``/``ACM0``/``AMA0``/``S0`` mean ``/dev/ttyUSB0`` etc., any other port must be
the exact name of an entry directly in ``/dev`` (a symlink ``/dev/pn532a -> /dev/pts/3`` is
found as ``tty:pn532a:pn532``). Its port syntax (``[a-zA-Z0-9-]+``) has no room for a ``/``,
so ``tty:pts/3:pn532`` or a udev link under ``/dev/serial/by-id/`` cannot be named through it.
For those this module adds ``tty:<absolute path>:<driver>``
(e.g. ``tty:/dev/serial/by-id/usb-1a86-port0:pn532``): the port is opened with nfcpy's serial
transport and initialised by nfcpy's driver module, the same two calls nfcpy's search makes
once it has found a port.

Such an absolute tty path is opened exclusively, as ``drivers.serial.transport.open_serial``
opens a serial reader: the device's advisory ``flock`` is held while the frontend is open, so
a second opener (another gateway process on the host, each reading the same site file) fails
with ``DeviceHeldElsewhere`` ("in use by another process"), and the ``NfcCheckpointReader``
standing by, retrying with back-off, takes the reader over when the holder closes it or dies.
nfcpy's own ``tty:`` paths take no lock (nfcpy opens them itself; its search by pattern also
probes every matching tty). The gateway's processes keep apart on any path through the reader's
peer lock (``drivers.peer_lock``); only a port lock shows a program that is not a gateway
holding the reader, so a reader is best named by its absolute path.
"""

from __future__ import annotations

import errno
import importlib
import os
from dataclasses import dataclass
from typing import Any

import nfc
import nfc.clf.transport
import serial

from gateway.errors import ConfigError, DeviceHeldElsewhere

__all__ = ["ReaderPath", "open_frontend", "parse_reader_path"]

_TTY_DRIVERS = frozenset({"pn532", "arygon"})
_LOCK_HELD = frozenset({errno.EWOULDBLOCK, errno.EAGAIN})
"""What pyserial's failed non-blocking ``flock`` carries: another open file holds the lock."""


@dataclass(frozen=True, slots=True)
class ReaderPath:
    """A reader path: ``device`` set for an absolute tty path, else ``nfcpy_path`` is used as is."""

    text: str
    device: str | None = None
    driver: str | None = None

    @property
    def nfcpy_path(self) -> str:
        return self.text


def parse_reader_path(path: str) -> ReaderPath:
    """Validate ``path``; raises ``ConfigError`` for an absolute tty path without a known driver."""
    if not path:
        raise ConfigError("NFC reader path is empty")
    if path.startswith("tty:/"):
        device, sep, driver = path[len("tty:") :].rpartition(":")
        if not sep or not device:
            raise ConfigError(f"NFC reader path {path!r}: expected tty:<absolute path>:<driver>")
        if driver not in _TTY_DRIVERS:
            known = ", ".join(sorted(_TTY_DRIVERS))
            raise ConfigError(f"NFC reader path {path!r}: driver {driver!r} is not one of {known}")
        return ReaderPath(path, device, driver)
    return ReaderPath(path)


def open_frontend(path: ReaderPath) -> Any:
    """Open and initialise the reader; return an ``nfc.ContactlessFrontend``.

    Raises ``OSError`` (nfcpy's ``IOError``) when the reader is absent or does not answer.
    """
    if path.device is None:
        return nfc.ContactlessFrontend(path.nfcpy_path)
    if not os.path.exists(path.device):
        raise OSError(errno.ENODEV, f"{path.device}: no such device")
    driver = importlib.import_module(f"nfc.clf.{path.driver}")
    try:
        transport = _ExclusiveTTY(path.device)
    except serial.SerialException as exc:
        if exc.errno in _LOCK_HELD:
            raise DeviceHeldElsewhere(f"{path.device}: in use by another process") from exc
        raise
    try:
        device = driver.init(transport)
    except BaseException:
        transport.close()
        raise
    device._path = path.device  # what nfcpy's own search records for a device it found
    frontend = nfc.ContactlessFrontend()
    frontend.device = device
    return frontend


class _ExclusiveTTY(nfc.clf.transport.TTY):  # type: ignore[misc]  # nfcpy has no type hints
    """nfcpy 1.0.4's serial transport, opening the port with pyserial's exclusive lock.

    ``open`` is nfcpy's own (``serial.Serial(port, baudrate, timeout=0.05)``) plus
    ``exclusive=True``; the PN532 driver calls it again to change speed, and each call locks.
    """

    def open(self, port: str, baudrate: int = 115200) -> None:
        self.close()
        self.tty = serial.Serial(port, baudrate, timeout=0.05, exclusive=True)
