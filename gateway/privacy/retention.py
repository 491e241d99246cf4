"""Retention: personal data is kept only as long as the policy allows, then purged.

What is kept how long (``RetentionPolicy``; every period is counted back from the injected
clock's now):

* **Positions** (with their raw payloads), by fix time: ``positions_days`` (default 30). A
  position trail is the most sensitive data the gateway holds and the one it needs least once
  the shift's alerts are settled.
* **Raw payloads of checkpoint scans and punches**, by receipt time: ``raw_days`` (default 30).
  The decoded record stays (it is a record the company keeps, below); only the bytes as the
  device sent them, kept to investigate a decoding dispute, are blanked.
* **Quarantined inputs** (raw bytes that failed on their own), by quarantine time:
  ``raw_days``: long enough to investigate, then gone like every raw payload.
* **Delivered messages to the group robots** (outbox rows for a robot), by delivery time:
  ``outbox_days`` (default 30): copies of alerts already in a chat group.
* **Delivered events** (outbox rows for the core), by delivery time: ``records_days``. They are
  the event history the daily ledger (``gateway.ledger``) is built from: a departure, its
  duration and whether it was reported exist nowhere else once the positions are gone.
  Undelivered rows are never purged: they are events the core has not had yet. A gateway with
  no core keeps the same history in ``record`` rows, settled when written: they go by the
  same period, from then.
* **The records the company must keep** (alerts no longer open, verbal reports, leaves,
  punches, checkpoint scans, shifts and their rule states, the audit log), by the time they
  concern:
  ``records_days`` (default 730). Attendance is what wages are paid on, and wage records are
  kept at least two years (工资支付暂行规定, art. 6). An open alert is never purged.

A period of ``0`` keeps that kind of data forever (the operator's choice, e.g. when the
management core archives it).

Purging never stalls ingest: rows go in batches of ``batch_rows``, each batch its own short
transaction (on SQLite the write lock is held for one batch only), with a pause between
batches in which the pipeline's transactions get their turn. A pass ends when nothing older
than the cut is left, or when ``max_batches`` batches purged rows (the next pass goes on).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from gateway.db.auth_models import AuditRow
from gateway.db.models import (
    AlertRow,
    LeaveRow,
    PositionRow,
    PresenceStateRow,
    ReportRow,
    ShiftRow,
)
from gateway.db.patrol_models import AttendanceStateRow, PatrolStateRow, PunchRow, ScanRow
from gateway.db.quarantine import QuarantineRow
from gateway.outbox.tables import EVENT_DESTINATIONS, OutboxRow

__all__ = ["PurgeReport", "RetentionPolicy", "purge"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How many days each kind of data is kept (``0``: forever); see the module docstring."""

    positions_days: int = 30
    raw_days: int = 30
    outbox_days: int = 30
    records_days: int = 730
    batch_rows: int = 2000
    max_batches: int = 500
    pause_s: float = 0.02

    def __post_init__(self) -> None:
        for name in ("positions_days", "raw_days", "outbox_days", "records_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (keep forever) or a number of days")
        if self.records_days and self.records_days < max(
            self.positions_days, self.raw_days, self.outbox_days
        ):
            raise ValueError(
                "records_days must not be shorter than the other periods: records are what the "
                "company keeps longest"
            )
        if self.batch_rows < 1 or self.max_batches < 1:
            raise ValueError("batch_rows and max_batches must be at least 1")


@dataclass
class PurgeReport:
    """Rows purged (or, for raw payloads, blanked) in one pass, by ``table`` or ``table.raw``."""

    at: datetime
    rows: dict[str, int] = field(default_factory=dict)
    complete: bool = True
    """False when the pass stopped at ``max_batches`` or was asked to stop: more is due."""

    @property
    def total(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True, slots=True)
class _Target:
    """One purge rule: rows of ``model`` whose ``when`` is before the cut (and ``extra``)."""

    name: str
    model: type[Any]
    key: InstrumentedAttribute[Any]
    when: InstrumentedAttribute[Any]
    days: Callable[[RetentionPolicy], int]
    extra: tuple[ColumnElement[bool], ...] = ()
    blank_raw: bool = False


_TARGETS: tuple[_Target, ...] = (
    _Target(
        "positions", PositionRow, PositionRow.id, PositionRow.fix_time, lambda p: p.positions_days
    ),
    _Target(
        "scans.raw",
        ScanRow,
        ScanRow.id,
        ScanRow.received_at,
        lambda p: p.raw_days,
        (ScanRow.raw != "",),
        blank_raw=True,
    ),
    _Target(
        "punches.raw",
        PunchRow,
        PunchRow.id,
        PunchRow.received_at,
        lambda p: p.raw_days,
        (PunchRow.raw != "",),
        blank_raw=True,
    ),
    _Target(
        "outbox",
        OutboxRow,
        OutboxRow.seq,
        OutboxRow.delivered_at,
        lambda p: p.outbox_days,
        (OutboxRow.delivered_at.is_not(None), OutboxRow.destination.not_in(EVENT_DESTINATIONS)),
    ),
    _Target(
        "events",
        OutboxRow,
        OutboxRow.seq,
        OutboxRow.delivered_at,
        lambda p: p.records_days,
        (OutboxRow.delivered_at.is_not(None), OutboxRow.destination.in_(EVENT_DESTINATIONS)),
    ),
    _Target(
        "quarantine",
        QuarantineRow,
        QuarantineRow.id,
        QuarantineRow.quarantined_at,
        lambda p: p.raw_days,
    ),
    _Target(
        "alerts",
        AlertRow,
        AlertRow.id,
        AlertRow.updated_at,
        lambda p: p.records_days,
        (AlertRow.status == "resolved",),
    ),
    _Target("reports", ReportRow, ReportRow.id, ReportRow.reported_at, lambda p: p.records_days),
    _Target("leaves", LeaveRow, LeaveRow.id, LeaveRow.ends_at, lambda p: p.records_days),
    _Target("punches", PunchRow, PunchRow.id, PunchRow.punched_at, lambda p: p.records_days),
    _Target("scans", ScanRow, ScanRow.id, ScanRow.scanned_at, lambda p: p.records_days),
    _Target(
        "presence_states",
        PresenceStateRow,
        PresenceStateRow.shift_id,
        PresenceStateRow.updated_at,
        lambda p: p.records_days,
    ),
    _Target(
        "attendance_states",
        AttendanceStateRow,
        AttendanceStateRow.shift_id,
        AttendanceStateRow.updated_at,
        lambda p: p.records_days,
    ),
    _Target(
        "patrol_states",
        PatrolStateRow,
        PatrolStateRow.machine_id,
        PatrolStateRow.updated_at,
        lambda p: p.records_days,
    ),
    _Target("shifts", ShiftRow, ShiftRow.id, ShiftRow.ends_at, lambda p: p.records_days),
    _Target("audit_log", AuditRow, AuditRow.id, AuditRow.at, lambda p: p.records_days),
)


def purge(
    engine: Engine,
    policy: RetentionPolicy,
    now: datetime,
    *,
    stopping: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
) -> PurgeReport:
    """Purge everything older than the policy allows, in bounded batches (module docstring).

    ``progress`` (the CLI's) is told a line after each batch that purged rows and when a
    table is done.

    Safe to run while the gateway ingests; a database error propagates (what was committed
    before it stays purged, and the next pass goes on from there).
    """
    report = PurgeReport(at=now)
    budget = policy.max_batches
    pause = stopping or threading.Event()
    for target in _TARGETS:
        days = target.days(policy)
        if days == 0:
            continue
        cut = now - timedelta(days=days)
        while budget > 0:
            if stopping is not None and stopping.is_set():
                report.complete = False
                return report
            done = _one_batch(engine, target, cut, policy.batch_rows)
            if done:  # the budget bounds the work done; finding nothing costs one probe
                budget -= 1
                report.rows[target.name] = report.rows.get(target.name, 0) + done
                if progress is not None:
                    so_far = report.rows[target.name]
                    progress(f"{target.name}: batch of {done}, {so_far} row(s) so far")
            if done < policy.batch_rows:
                if progress is not None:
                    progress(f"{target.name}: done, {report.rows.get(target.name, 0)} row(s)")
                break
            pause.wait(policy.pause_s)  # let the pipeline's transactions in
        else:
            report.complete = False
            break
    if report.total:
        log.info("retention purge: %s", ", ".join(f"{n} {k}" for k, n in report.rows.items()))
    return report


def _one_batch(engine: Engine, target: _Target, cut: datetime, limit: int) -> int:
    """Purge (or blank) up to ``limit`` rows of ``target`` older than ``cut``; rows touched."""
    keys = (
        select(target.key)
        .where(target.when < cut, *target.extra)
        .order_by(target.key)
        .limit(limit)
        .scalar_subquery()
    )
    statement: Any
    if target.blank_raw:
        statement = update(target.model).where(target.key.in_(keys)).values(raw="")
    else:
        statement = delete(target.model).where(target.key.in_(keys))
    with Session(engine) as session, session.begin():
        result = session.execute(statement.execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)
