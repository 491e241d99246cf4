"""Punches a terminal sends again under another clock correction, told apart from new ones for a
whole upload in one query (``patrol_repository.insert_punches``).

Binary protocol (``drivers.zkteco.clock_offset``): the offset is measured again at every
connection and rounded to the minute, and it is dropped within the tolerance, so a log read
again after a restart may land a minute or two away; after the terminal's clock was set (from
UTC to Beijing time), hours away. PUSH (``drivers.zkteco.push_clock``): a record is corrected
only when it arrives in real time, so one re-sent after a reconnect (its ``OK`` lost) comes
back uncorrected, hours away. The same record (its ``raw`` holds the terminal's own reading)
within the slack of its format is the punch already stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.clock import utc
from gateway.db.patrol_models import PunchRow
from gateway.db.slices import slices
from gateway.records import Punch

__all__ = ["StoredRecords"]

CORRECTION_SLACK = {"zkteco_binary": timedelta(days=1), "zkteco_push": timedelta(days=1)}
"""The punches a driver may date by the gateway's clock (``drivers.zkteco.driver``,
``drivers.zkteco.push_clock``), and how far apart two datings of one record may be."""

PUNCHES_PER_LOOKUP = 300
"""Punches whose records one ``SELECT`` looks up: each brings its person and its ``raw`` as
parameters, kept under every backend's limit (``gateway.db.slices``)."""

_Record = tuple[str, str, str, str]
"""A terminal's record as stored: terminal, person, kind and ``raw``."""


def _record(punch: Punch) -> _Record:
    return (punch.terminal_id, punch.person_id, punch.kind.value, punch.raw)


class StoredRecords:
    """The stored datings of the records of one batch of punches that a driver may have dated
    under another correction, read with one ``SELECT`` per :data:`PUNCHES_PER_LOOKUP` of them
    (none for a batch without such punches); the batch's own punches join it as they are
    stored (:meth:`add`), so a record sent twice in one upload is stored once, as when each
    punch was looked up on its own after the ones before it were inserted."""

    def __init__(self, session: Session, batch: Sequence[Punch]) -> None:
        self._datings: dict[_Record, list[datetime]] = {}
        corrected = [p for p in batch if p.source_format in CORRECTION_SLACK]
        for part in slices(corrected, PUNCHES_PER_LOOKUP):
            self._read(session, part)

    def _read(self, session: Session, punches: Sequence[Punch]) -> None:
        times = [utc(p.punched_at) for p in punches]
        widest = max(CORRECTION_SLACK[p.source_format] for p in punches)
        rows = session.execute(
            select(
                PunchRow.terminal_id,
                PunchRow.person_id,
                PunchRow.kind,
                PunchRow.raw,
                PunchRow.punched_at,
            ).where(
                PunchRow.terminal_id.in_({p.terminal_id for p in punches}),
                PunchRow.person_id.in_({p.person_id for p in punches}),
                PunchRow.raw.in_({p.raw for p in punches}),
                PunchRow.punched_at >= min(times) - widest,
                PunchRow.punched_at <= max(times) + widest,
            )
        )
        for terminal_id, person_id, kind, raw, punched_at in rows:
            self._datings.setdefault((terminal_id, person_id, kind, raw), []).append(punched_at)

    def holds(self, punch: Punch) -> bool:
        """Whether ``punch``, of a format a driver may date by the gateway's clock, is stored
        already (under this dating or another within its format's slack)."""
        slack = CORRECTION_SLACK.get(punch.source_format)
        if slack is None:
            return False
        at = utc(punch.punched_at)
        return any(abs(stored - at) <= slack for stored in self._datings.get(_record(punch), ()))

    def add(self, punch: Punch) -> None:
        """``punch`` was just stored: a later punch of the batch may be its record again."""
        self._datings.setdefault(_record(punch), []).append(utc(punch.punched_at))
