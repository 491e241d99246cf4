"""A binary-protocol terminal's attendance records made punches, or rejects.

Punches go to ``on_punch`` (on the client's thread): ``terminal_id`` as configured,
``person_id`` the terminal's user id (PIN; ``uid:<number>`` for a number the table read does
not have, counted as ``unmapped``: an unknown person, never someone else's PIN),
``punched_at`` the record's local time in the terminal's timezone converted to UTC (corrected by
the terminal's clock offset when it is over two minutes: ``clock_offset``), ``received_at`` the
clock's time, ``source_format`` ``zkteco_binary``, ``raw`` the record's bytes in hex. Records
with a blank user id (``BLANK_PIN``), a punch state outside 0-5 or an impossible time are passed
to ``on_reject``, and so are packets the session cannot read (a bad checksum, a datagram that is
no packet); without ``on_reject`` they are logged instead.

A record already emitted (same :func:`record_key`, taken on the terminal's own time, so a log
read again under a new clock correction repeats nothing) is not emitted again within the life of
the emitter; one ``on_punch`` failed on is not marked as emitted, so the next log read offers it
again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, tzinfo

from drivers.zkteco.binary_records import BLANK_PIN, AttendanceRecord
from drivers.zkteco.clock_offset import ClockOffset
from drivers.zkteco.semantics import punch_kind, record_key, verify_mode
from gateway.clock import Clock
from gateway.records import Punch, Rejected

__all__ = ["SOURCE_FORMAT", "PunchEmitter"]

log = logging.getLogger(__name__)

SOURCE_FORMAT = "zkteco_binary"
_SEEN_LIMIT = 500_000


class PunchEmitter:
    """One terminal's records to ``on_punch`` or ``on_reject`` (see the module docstring).

    ``count`` is told the name of each counter to raise: ``rejects``, ``duplicates``,
    ``punches`` (``drivers.zkteco.stats.ZkClientStats``).
    """

    def __init__(
        self,
        terminal_id: str,
        *,
        clock: Clock,
        zone: tzinfo,
        offset: ClockOffset,
        on_punch: Callable[[Punch], None],
        on_reject: Callable[[Rejected], None] | None,
        count: Callable[[str], None],
    ) -> None:
        self._terminal_id = terminal_id
        self._clock = clock
        self._zone = zone
        self._offset = offset
        self._on_punch = on_punch
        self._on_reject = on_reject
        self._count = count
        self._seen: OrderedDict[str, None] = OrderedDict()

    def reject(self, reason: str, raw: bytes) -> None:
        """Count a refused record or packet; log it here only when nobody receives it (the
        receiver of ``on_reject`` logs rate-limited: a garbled line sends them in bursts)."""
        self._count("rejects")
        log.log(
            logging.WARNING if self._on_reject is None else logging.DEBUG,
            "ZK terminal %s: refused %s: %s",
            self._terminal_id,
            reason,
            raw[:64].hex(),
        )
        if self._on_reject is not None:
            self._on_reject(Rejected(reason=reason, raw=raw, device_id=self._terminal_id))

    def emit(self, record: AttendanceRecord) -> None:
        """Hand ``record`` to ``on_punch`` as a punch, unless it is refused or already emitted."""
        if not record.user_id:
            self.reject(BLANK_PIN, record.raw)
            return
        kind = punch_kind(record.punch)
        if kind is None:
            self.reject(f"punch state {record.punch}: not 0-5", record.raw)
            return
        terminal_utc = record.timestamp.replace(tzinfo=self._zone).astimezone(UTC)
        punch = Punch(
            terminal_id=self._terminal_id,
            person_id=record.user_id,
            punched_at=self._offset.corrected(terminal_utc, record.raw),
            received_at=self._clock.now(),
            kind=kind,
            verify=verify_mode(record.verify),
            source_format=SOURCE_FORMAT,
            raw=record.raw.hex(),
            clock_corrected_s=-self._offset.applied_to(record.raw).total_seconds(),
        )
        # By the terminal's own time: a log read again under a new correction repeats nothing.
        key = record_key(replace(punch, punched_at=terminal_utc))
        if key in self._seen:
            self._count("duplicates")
            return
        try:
            self._on_punch(punch)
        except Exception:
            # Not marked as seen: the next log read (after a reconnect) offers it again.
            log.exception("ZK terminal %s: on_punch failed for %s", self._terminal_id, key)
            return
        self._seen[key] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        self._count("punches")
