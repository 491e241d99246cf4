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
punch's ``raw`` keeps the terminal's own reading. Records made before the terminal's clock was
last set are corrected by today's offset too: the terminal does not say when it was set.
"""

from __future__ import annotations

import logging
import struct
from datetime import UTC, datetime, timedelta, tzinfo

from drivers.zkteco.binary_codec import Command, Packet
from drivers.zkteco.binary_records import decode_time
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

    def corrected(self, terminal_utc: datetime) -> datetime:
        """``terminal_utc`` (a punch's time by the terminal's clock) by the gateway's clock."""
        return terminal_utc - self._applied
