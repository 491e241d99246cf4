"""How far a binary-protocol terminal's clock is off the gateway's clock, and punch times
corrected by it.

A terminal set to UTC instead of Beijing time, or left to run minutes slow, dates every punch by
its own clock: a 07:58 check-in would read 23:58 the day before. The client asks the terminal
its time (``CMD_GET_TIME``) when it connects, before it reads the log, and at every keep-alive;
the offset is the terminal's reading, in the site's zone, less the injected clock's time.

Within ``TOLERANCE`` the terminal is taken at its word (a reply's round trip and a clock a few
seconds off say nothing). Beyond it every punch is dated by the terminal's time less the
offset, rounded to the whole minute and kept while later readings stay within a minute of it:
the log is read again after every reconnect and process restart, and the store recognises a
record it has by its time, so the correction must not move with each reading's jitter. The
punch's ``raw`` keeps the terminal's own reading.

Records made before the terminal's clock was last set were dated under another offset, which
the terminal does not tell. Today's offset is applied to the records made since the last
change the log shows: the log is kept in the order records were made, so a record dated more
than ``TOLERANCE`` before the one above it means the clock was set back between them
(:meth:`ClockOffset.note_log`). Records above that point keep the terminal's reading (they were
made under the earlier setting, right or not; shifted by today's offset, the morning's records
of a terminal set to UTC at 07:00 would land hours in the future). A clock set forward leaves no
such mark: records before it are corrected by today's offset (none when it was set right). A
record stored already is recognised by its raw bytes whatever the correction
(``gateway.db.patrol_repository``), so a clock set between two reads stores nothing twice.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from drivers.zkteco.binary_codec import Command, Packet
from drivers.zkteco.binary_records import AttendanceRecord, decode_time
from gateway.clock import Clock
from gateway.errors import DecodeError

__all__ = ["TOLERANCE", "ClockOffset"]

log = logging.getLogger(__name__)

TOLERANCE = timedelta(minutes=2)
"""A terminal's clock off by at most this much is taken as it is."""
_STEP = timedelta(minutes=1)


class ClockOffset:
    """The correction in force for one terminal (module docstring); thread-confined to the
    client's thread."""

    def __init__(self, terminal_id: str, clock: Clock, zone: tzinfo) -> None:
        self._terminal_id = terminal_id
        self._clock = clock
        self._zone = zone
        self._applied = timedelta(0)
        self._before_set: frozenset[bytes] = frozenset()

    @property
    def applied(self) -> timedelta:
        """The terminal's clock less the gateway's, as punches are corrected by (0 within
        ``TOLERANCE``)."""
        return self._applied

    def measure(self, reply: Packet) -> None:
        """Take the terminal's time from a ``CMD_GET_TIME`` reply; a refused or unreadable
        reply changes nothing. Logged once when the correction starts, changes or ends."""
        if reply.command != Command.CMD_ACK_OK or len(reply.data) < 4:
            return
        try:
            local = decode_time(struct.unpack_from("<I", reply.data)[0])
        except DecodeError:
            log.info("ZK terminal %s: its time is no date: %s", self._terminal_id, reply.data)
            return
        offset = local.replace(tzinfo=self._zone).astimezone(UTC) - self._clock.now()
        if abs(offset) <= TOLERANCE:
            applied = timedelta(0)
        elif self._applied and abs(offset - self._applied) <= _STEP:
            applied = self._applied
        else:
            applied = _STEP * round(offset / _STEP)
        if applied != self._applied:
            log.warning(
                "ZK terminal %s: its clock reads %s, %+.0f s off the gateway's; punches %s",
                self._terminal_id,
                local.isoformat(sep=" "),
                offset.total_seconds(),
                f"corrected by {-applied.total_seconds():+.0f} s"
                if applied
                else "taken as the terminal dates them again",
            )
        self._applied = applied

    def note_log(self, records: Sequence[AttendanceRecord]) -> None:
        """The log as read (in the order the records were made): those above the last point
        where the clock was set back are not corrected (module docstring)."""
        since = 0
        for i in range(1, len(records)):
            if records[i - 1].timestamp - records[i].timestamp > TOLERANCE:
                since = i
        self._before_set = frozenset(r.raw for r in records[:since])
        if since and self._applied:
            log.warning(
                "ZK terminal %s: its clock was set back after %d record(s); those keep its "
                "reading, the %d after are corrected",
                self._terminal_id,
                since,
                len(records) - since,
            )

    def applied_to(self, raw: bytes) -> timedelta:
        """The correction for the record ``raw``: none for one made before the clock was last
        set back, else ``applied``."""
        return timedelta(0) if raw in self._before_set else self._applied

    def corrected(self, terminal_utc: datetime, raw: bytes = b"") -> datetime:
        """``terminal_utc`` (the time by the terminal's clock of the record ``raw``) by the
        gateway's clock."""
        return terminal_utc - self.applied_to(raw)
