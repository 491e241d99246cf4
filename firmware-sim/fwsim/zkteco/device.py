"""What a simulated ZKTeco binary terminal holds and how it lays it out for a client: the user
table, the attendance log, the free-sizes counters and the device options.

Everything here is data in, bytes out (no sockets): :mod:`fwsim.zkteco.binary_terminal` serves
it. A buffered table starts with its byte count (u32) followed by the entries, as terminals stage
them for ``CMD_PREPARE_BUFFER``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from fwsim.zkteco.wire import pack_record, pack_user

__all__ = [
    "DEFAULT_FIRMWARE",
    "Capacity",
    "LogRecord",
    "User",
    "default_options",
    "free_sizes",
    "log_table",
    "option_reply",
    "user_table",
    "users_with",
]

DEFAULT_FIRMWARE = "Ver 6.60 Sep 23 2015"
"""What ``CMD_GET_VERSION`` answers unless told otherwise (a common TFT firmware)."""


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One record in the terminal's log: PIN, local time (naive), punch state, verify mode."""

    pin: str
    at: datetime
    punch: int = 0
    verify: int = 1


@dataclass(frozen=True, slots=True)
class User:
    """One enrolled user: ``uid`` the terminal's internal number (1-65535), ``user_id`` the PIN
    people type and records carry, ``name``, ``card`` number (0: none), ``privilege`` (0 user,
    14 administrator), ``password``, ``group``."""

    uid: int
    user_id: str
    name: str = ""
    card: int = 0
    privilege: int = 0
    password: str = ""
    group: int = 1


@dataclass(frozen=True, slots=True)
class Capacity:
    """How many users, fingerprints and records the terminal has room for."""

    users: int = 10_000
    fingers: int = 3_000
    records: int = 100_000


def users_with(users: Sequence[User], pins: Iterable[str]) -> list[User]:
    """``users`` plus a nameless, cardless user for every PIN not enrolled yet (next free
    internal number), so that every record's PIN is in the user table, as on a terminal where
    nobody can punch without being enrolled."""
    table = list(users)
    known = {u.user_id for u in table}
    next_uid = max((u.uid for u in table), default=0) + 1
    for pin in pins:
        if pin not in known:
            table.append(User(next_uid, pin))
            known.add(pin)
            next_uid += 1
    return table


def user_table(users: Sequence[User], size: int, encoding: str) -> bytes:
    """The staged user table: byte count, then one ``size``-byte entry (28 or 72) per user; a
    user the layout cannot hold is a ``ValueError`` naming it."""
    entries = []
    for u in users:
        try:
            entries.append(
                pack_user(
                    size,
                    u.uid,
                    u.user_id,
                    name=u.name,
                    card=u.card,
                    privilege=u.privilege,
                    password=u.password,
                    group=u.group,
                    encoding=encoding,
                )
            )
        except struct.error as exc:
            message = f"user {u.user_id!r} does not fit the {size}-byte layout: {exc}"
            raise ValueError(message) from exc
    body = b"".join(entries)
    return struct.pack("<I", len(body)) + body


def log_table(
    records: Sequence[LogRecord],
    users: Sequence[User],
    size: int,
    removed: Mapping[str, int] | None = None,
) -> bytes:
    """The staged attendance log: byte count, then one ``size``-byte record (40, 16 or 8) per
    record, each naming its user's internal number; a user taken out of the table still has
    his number in ``removed`` (PIN -> number), as his records keep it on a terminal."""
    uid_of = {**(removed or {}), **{u.user_id: u.uid for u in users}}
    body = b"".join(
        pack_record(size, uid_of.get(r.pin, 0), r.pin, r.verify, r.punch, r.at) for r in records
    )
    return struct.pack("<I", len(body)) + body


def free_sizes(users: Sequence[User], records: int, capacity: Capacity) -> bytes:
    """The ``CMD_GET_FREE_SIZES`` answer: 23 little-endian i32 counters (92 bytes). Index 4
    users, 6 fingerprints, 8 records, 12 cards, 14/15/16 fingerprint/user/record capacity,
    17/18/19 what is still free of each, 20-22 faces (none here)."""
    fields = [0] * 23
    fields[4] = len(users)
    fields[8] = records
    fields[12] = sum(1 for u in users if u.card)
    fields[14] = capacity.fingers
    fields[15] = capacity.users
    fields[16] = capacity.records
    fields[17] = capacity.fingers
    fields[18] = capacity.users - len(users)
    fields[19] = capacity.records - records
    return struct.pack("<23i", *fields)


def default_options(
    *,
    serial_number: str,
    device_name: str,
    platform: str,
    user_record_size: int,
    record_size: int,
    host: str,
) -> dict[str, str]:
    """The options a terminal answers to ``CMD_OPTIONS_RRQ`` (name → value)."""
    return {
        "~SerialNumber": serial_number,
        "~DeviceName": device_name,
        "~Platform": platform,
        "~OS": "1",
        "~ZKFPVersion": "10",
        "~ExtendFmt": "1" if record_size == 40 else "0",
        "~UserExtFmt": "1" if user_record_size == 72 else "0",
        "~IsOnlyRFMachine": "0",
        "~PIN2Width": "9",
        "MAC": "00:17:61:12:f0:3a",
        "IPAddress": host,
        "NetMask": "255.255.255.0",
        "GATEIPAddress": "0.0.0.0",
        "FaceFunOn": "0",
        "CompatOldFirmware": "0",
        "ZKFaceVersion": "0",
    }


def option_reply(options: Mapping[str, str], request: bytes) -> bytes | None:
    """``name=value`` NUL-terminated for a ``CMD_OPTIONS_RRQ`` naming ``name`` (the request is
    the name, NUL-terminated); ``None`` for an option the terminal does not have."""
    name = request.split(b"\x00", 1)[0].decode("ascii", errors="replace")
    if name not in options:
        return None
    return f"{name}={options[name]}".encode() + b"\x00"
