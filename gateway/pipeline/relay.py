"""Punches and scans handed to the process that runs their guard's rules (a partitioned
gateway).

A clock-in terminal or a checkpoint reader talks to one process (its serial port, its TCP
address, the ``/iclock`` port it was given), whichever partition the guard it names belongs to.
That process stores the record, as every process stores what it receives; when it does not hold
the guard (``DutyIndex.holds``), it names the record in ``relayed_punches`` or
``relayed_scans`` in the same transaction (``relay_punch``, ``relay_scan``). A scan names its
guard by the wand he carries, by his card, or, read from a checkpoint by a reader fixed at a
post, as the one guard on duty there (counted among every process's guards). The process
holding the guard's partition finds the record at its next pass, at most ``RELAY_EVERY_S`` of
its clock later, applies it to the guard's rules as if its own device had sent it, and deletes
the row in the same transaction, under the same lease fence as every pipeline transaction: a
record is applied once, by the guard's owner, also across a takeover (a row nobody holds waits
for the next owner). A single process holds every guard, so it never relays; it looks once
after each reload of its roster (at start) and applies what a partitioned run left behind, and
otherwise leaves its quiet ticks without a query.

A wand's download is told the same way, to every process: the one that imported the log
records it in ``wand_downloads`` (``record_wand_download``) in the transaction that stored and
relayed its scans, and each pass reads that table (one row a wand) before the relayed scans, so
the scans a download brought are applied here before the machines hear of it
(``PatrolStage.wands_downloaded``); a download is told once a process, again after a restart,
and a machine that knows it already is let be.

The tables hold only records in transit (a few, or those of a partition waiting for its new
owner), so a pass reads them whole and keeps the rows of the guards held here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from gateway.clock import utc
from gateway.cluster.tables import RelayedPunchRow, RelayedScanRow
from gateway.db import patrol_repository as prepo
from gateway.db.patrol_models import PunchRow, ScanRow
from gateway.pipeline.context import BatchContext
from gateway.pipeline.duty import DutyIndex
from gateway.pipeline.memory import PipelineMemory
from gateway.records import CheckpointScan, Punch, PunchKind, TagTechnology, VerifyMode

__all__ = ["RELAY_EVERY_S", "RELAY_PER_PASS", "RecordRelay", "relay_punch", "relay_scan"]

RELAY_EVERY_S = 1.0
"""How often (clock seconds) a process looks for records relayed to its guards."""
RELAY_PER_PASS = 500
"""Relayed records of each kind applied in one transaction at most (the rest in the next
passes); under every database's limit of parameters in one statement."""

_ApplyPunch = Callable[[BatchContext, Punch, datetime], None]
_ApplyScan = Callable[[BatchContext, CheckpointScan, str, datetime], None]
_TellDownloads = Callable[[BatchContext, Mapping[str, datetime], datetime], None]


def relay_punch(session: Session, punch: Punch, guard_id: str, now: datetime) -> None:
    """Name the stored ``punch`` (same transaction) for the process holding ``guard_id``."""
    punch_id = session.scalar(
        select(PunchRow.id).where(
            PunchRow.terminal_id == punch.terminal_id,
            PunchRow.person_id == punch.person_id,
            PunchRow.punched_at == utc(punch.punched_at),
            PunchRow.kind == punch.kind.value,
        )
    )
    if punch_id is None:  # stored by this transaction a moment ago: cannot be missing
        raise RuntimeError(f"punch of {punch.terminal_id} at {punch.punched_at} not stored")
    session.execute(
        insert(RelayedPunchRow).values(punch_id=punch_id, guard_id=guard_id, relayed_at=now)
    )


def relay_scan(session: Session, scan_key: str, guard_id: str, now: datetime) -> None:
    """Name the scan stored under ``scan_key`` (same transaction) for the process holding
    ``guard_id``, the guard it was attributed to."""
    scan_id = session.scalar(select(ScanRow.id).where(ScanRow.scan_key == scan_key))
    if scan_id is None:  # stored by this transaction a moment ago: cannot be missing
        raise RuntimeError(f"scan {scan_key} not stored")
    session.execute(
        insert(RelayedScanRow).values(scan_id=scan_id, guard_id=guard_id, relayed_at=now)
    )


class RecordRelay:
    """The stage that applies the punches and scans relayed to the guards held here (see the
    module docstring), through ``apply_punch(ctx, punch, now)`` and ``apply_scan(ctx, scan,
    guard_id, now)``, the patrol stage's own paths, and tells the wands' downloads through
    ``tell_downloads(ctx, {wand: downloaded at}, now)``."""

    def __init__(
        self,
        memory: PipelineMemory,
        apply_punch: _ApplyPunch,
        apply_scan: _ApplyScan,
        tell_downloads: _TellDownloads,
    ) -> None:
        self._memory = memory
        self._apply_punch = apply_punch
        self._apply_scan = apply_scan
        self._tell_downloads = tell_downloads
        self._next_pass: datetime | None = None
        self._swept: DutyIndex | None = None
        self._told: dict[str, datetime] = {}
        """The downloads told to this process's machines, by wand."""

    def run(self, ctx: BatchContext) -> None:
        now = ctx.now
        duties = self._memory.duties
        if duties.scope is None:  # every guard held here: nobody relays to this process
            if duties is self._swept:
                return
            swept, self._swept = self._swept, duties
            # A transaction that fails takes the sweep back with it: the next one looks again.
            self._memory.journal.record(lambda: setattr(self, "_swept", swept))
        elif self._next_pass is not None and now < self._next_pass:
            return
        self._next_pass = now + timedelta(seconds=RELAY_EVERY_S)
        more_punches = self._punches(ctx, duties)
        # Read before the relayed scans: a download seen here was committed with its scans,
        # so the next statement sees them too.
        downloads = prepo.wand_downloads(ctx.session)
        more_scans = self._scans(ctx, duties)
        if not more_scans:
            self._downloads(ctx, downloads)
        if more_punches or more_scans:
            self._swept = None  # more than one pass takes: the next transaction goes on

    def _downloads(self, ctx: BatchContext, downloads: Mapping[str, datetime]) -> None:
        """Tell the machines held here the downloads they have not been told."""
        new = {w: at for w, at in downloads.items() if w not in self._told or self._told[w] < at}
        if not new:
            return
        told = dict(self._told)
        self._memory.journal.record(lambda: setattr(self, "_told", told))
        self._told = {**self._told, **new}
        self._tell_downloads(ctx, new, ctx.now)

    def _punches(self, ctx: BatchContext, duties: DutyIndex) -> bool:
        """Apply the waiting punches of the guards held here; returns whether some are left."""
        session = ctx.session
        waiting = session.execute(
            select(RelayedPunchRow.punch_id, RelayedPunchRow.guard_id).order_by(
                RelayedPunchRow.punch_id
            )
        ).all()
        held = [row.punch_id for row in waiting if duties.holds(row.guard_id)]
        mine = held[:RELAY_PER_PASS]
        if not mine:
            return False
        rows = session.scalars(select(PunchRow).where(PunchRow.id.in_(mine)).order_by(PunchRow.id))
        for row in rows.all():
            ctx.counters.add("punches.relayed_in")
            self._apply_punch(ctx, _punch_of(row), ctx.now)
        session.execute(delete(RelayedPunchRow).where(RelayedPunchRow.punch_id.in_(mine)))
        return len(held) > len(mine)

    def _scans(self, ctx: BatchContext, duties: DutyIndex) -> bool:
        """Apply the waiting scans of the guards held here, in the order they were read;
        returns whether some are left."""
        session = ctx.session
        waiting = session.execute(select(RelayedScanRow.scan_id, RelayedScanRow.guard_id)).all()
        held = {row.scan_id: row.guard_id for row in waiting if duties.holds(row.guard_id)}
        mine = sorted(held)[:RELAY_PER_PASS]
        if not mine:
            return False
        rows = session.scalars(
            select(ScanRow).where(ScanRow.id.in_(mine)).order_by(ScanRow.scanned_at, ScanRow.id)
        )
        for row in rows.all():
            ctx.counters.add("scans.relayed_in")
            self._apply_scan(ctx, _scan_of(row), held[row.id], ctx.now)
        session.execute(delete(RelayedScanRow).where(RelayedScanRow.scan_id.in_(mine)))
        return len(held) > len(mine)


def _punch_of(row: PunchRow) -> Punch:
    return Punch(
        terminal_id=row.terminal_id,
        person_id=row.person_id,
        punched_at=row.punched_at,
        received_at=row.received_at,
        kind=PunchKind(row.kind),
        verify=VerifyMode(row.verify),
        source_format=row.source_format,
        raw=row.raw,
    )


def _scan_of(row: ScanRow) -> CheckpointScan:
    return CheckpointScan(
        reader_id=row.reader_id,
        tag_id=row.tag_id,
        scanned_at=row.scanned_at,
        received_at=row.received_at,
        technology=TagTechnology(row.technology),
        ndef_text=row.ndef_text,
        source_format=row.source_format,
        raw=row.raw,
    )
