"""One guard's personal data: exported on request, erased on request (PIPL arts. 45 and 47).

What belongs to a guard: the rows that carry his id: positions (the gateway keeps none off
duty, so these are all it has of his whereabouts), verbal reports, leaves, alerts, punches,
checkpoint scans, his shifts (those that ended stay after he leaves the site file: the
ledger's record) and their rule states, and the events about him in the outbox.

Export writes every such row as one JSON object per line (``{"kind": ..., "row": {...}}``), so
a trail of months streams without being held in memory.

Erasure deletes all of it, in bounded batches (each its own transaction, so ingest is never
stalled), and is refused while it would be undone or would lose an event:

* while the guard is in a loaded site file (his roster would bring his shifts back, and the
  pipeline would go on writing about him): the operator removes him from the site file first;
* while an event about him waits for delivery to the management core or a robot: the core has
  a right to the events of his past shifts; erasure waits until they are delivered (an event
  a destination refused for its content waits for the operator to send it again: the refusal
  says so, and names ``guard-gateway outbox retry``);
* while his rules still have a decision to make about him: a rule state of a shift the
  pipeline still runs (``gateway.pipeline.roster_window.in_window``) with a deadline to come
  (the hour to cancel a leave he came back from, the wait for a quiet terminal's upload after
  a site load cut his shift short). The running pipeline holds that state in memory and would
  write the alert, its event and his name again after the erasure; erasure waits until it is
  decided (and then delivered). A shift out of the window is run by no process any more.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from gateway.clock import utc
from gateway.db.models import (
    AlertRow,
    GuardRow,
    LeaveRow,
    PositionRow,
    PresenceStateRow,
    ReportRow,
    ShiftRow,
)
from gateway.db.patrol_models import AttendanceStateRow, PatrolStateRow, PunchRow, ScanRow
from gateway.errors import GatewayError
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.roster_window import in_window

__all__ = ["ErasureRefused", "ErasureReport", "erase_guard", "export_guard", "guard_data_exists"]

ERASE_BATCH_ROWS = 2000


class ErasureRefused(GatewayError):
    """Erasure would be undone or would lose an event (the message says which and what to do)."""


@dataclass
class ErasureReport:
    """Rows erased, by table."""

    guard_id: str
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True, slots=True)
class _Part:
    kind: str
    model: type[Any]
    key: InstrumentedAttribute[Any]
    where: ColumnElement[bool]


def _parts(guard_id: str) -> list[_Part]:
    """Every set of rows that is the guard's (module docstring), resolved now."""
    # Every stored position carries its guard: none is kept off duty
    # (``gateway.pipeline.fix_stages.Identity``), so his id finds his whole trail.
    parts = [_Part("position", PositionRow, PositionRow.id, PositionRow.guard_id == guard_id)]
    # A shift id starts with its guard's id and "/" (``gateway.site.roster.shift_id``), and a
    # guard id has no "/": the prefix is exact, and survives the shifts' removal from the roster.
    his_shift = f"{guard_id}/"
    parts += [
        _Part("report", ReportRow, ReportRow.id, ReportRow.guard_id == guard_id),
        _Part("leave", LeaveRow, LeaveRow.id, LeaveRow.guard_id == guard_id),
        _Part("alert", AlertRow, AlertRow.id, AlertRow.guard_id == guard_id),
        _Part("punch", PunchRow, PunchRow.id, PunchRow.guard_id == guard_id),
        _Part("scan", ScanRow, ScanRow.id, ScanRow.guard_id == guard_id),
        _Part(
            "patrol_state",
            PatrolStateRow,
            PatrolStateRow.machine_id,
            PatrolStateRow.shift_id.startswith(his_shift, autoescape=True),
        ),
        _Part(
            "presence_state",
            PresenceStateRow,
            PresenceStateRow.shift_id,
            PresenceStateRow.guard_id == guard_id,
        ),
        _Part(
            "attendance_state",
            AttendanceStateRow,
            AttendanceStateRow.shift_id,
            AttendanceStateRow.guard_id == guard_id,
        ),
        _Part("shift", ShiftRow, ShiftRow.id, ShiftRow.guard_id == guard_id),
        _Part("event", OutboxRow, OutboxRow.seq, OutboxRow.subject == guard_id),
    ]
    return parts


def guard_data_exists(engine: Engine, guard_id: str) -> bool:
    """Whether the gateway holds anything about ``guard_id`` (roster or records)."""
    with Session(engine) as session:
        if session.get(GuardRow, guard_id) is not None:
            return True
        return any(
            session.execute(select(part.key).where(part.where).limit(1)).first() is not None
            for part in _parts(guard_id)
        )


def export_guard(
    engine: Engine, guard_id: str, *, page_rows: int = 2000
) -> Iterator[tuple[str, str]]:
    """Every row that is the guard's as ``(kind, JSON line with its newline)``, page by page."""
    with Session(engine) as session:
        guard = session.get(GuardRow, guard_id)
        if guard is not None:
            yield "guard", _line("guard", guard)
        for part in _parts(guard_id):
            after: Any = None
            while True:
                query = select(part.model).where(part.where).order_by(part.key).limit(page_rows)
                if after is not None:
                    query = query.where(part.key > after)
                rows = session.scalars(query).all()
                for row in rows:
                    yield part.kind, _line(part.kind, row)
                if len(rows) < page_rows:
                    break
                after = getattr(rows[-1], part.key.key)
                session.expunge_all()


def erase_guard(engine: Engine, guard_id: str, now: datetime) -> ErasureReport:
    """Delete every row that is the guard's, in bounded batches; refused as the module says
    (``now``: the gateway's clock, which says which of his shifts the pipeline still runs)."""
    with Session(engine) as session:
        guard = session.get(GuardRow, guard_id)
        if guard is not None:
            raise ErasureRefused(
                f"guard {guard_id!r} is in the roster of site {guard.site_id!r}: remove him from "
                "the site file and load it first, or his shifts would bring his data back"
            )
        waiting, refused = session.execute(
            select(func.count(), func.count(OutboxRow.refused_at)).where(
                OutboxRow.subject == guard_id, OutboxRow.delivered_at.is_(None)
            )
        ).one()
        if refused:
            raise ErasureRefused(
                f"{waiting} event(s) about guard {guard_id!r} are not delivered yet, {refused} "
                "of them refused by their destination for their content and set aside, never "
                "to be sent again on their own (`guard-gateway outbox refused` lists them): "
                "once the destination takes them, send them again with `guard-gateway outbox "
                "retry`, and erase once all are delivered"
            )
        if waiting:
            raise ErasureRefused(
                f"{waiting} event(s) about guard {guard_id!r} are not delivered yet: erase once "
                "the management core and the robots have them"
            )
        due = _rules_due(session, guard_id, now)
        if due is not None:
            raise ErasureRefused(
                f"the rules still have a decision to make about guard {guard_id!r} (due "
                f"{due.isoformat()}: a leave to cancel, or the end of a shift cut short): "
                "erase once it is made and its events are delivered"
            )
        parts = _parts(guard_id)
    report = ErasureReport(guard_id)
    for part in parts:
        while True:
            keys = select(part.key).where(part.where).limit(ERASE_BATCH_ROWS).scalar_subquery()
            with Session(engine) as session, session.begin():
                result = session.execute(
                    delete(part.model)
                    .where(part.key.in_(keys))
                    .execution_options(synchronize_session=False)
                )
            done = int(getattr(result, "rowcount", 0) or 0)
            if done:
                table = part.model.__tablename__
                report.rows[table] = report.rows.get(table, 0) + done
            if done < ERASE_BATCH_ROWS:
                break
    return report


def _rules_due(session: Session, guard_id: str, now: datetime) -> datetime | None:
    """The earliest deadline still to come in a rule state of his that the pipeline runs
    (its shift in the roster's window around ``now``), or ``None``."""
    his_shift = f"{guard_id}/"
    states: tuple[tuple[Any, ColumnElement[bool]], ...] = (
        (PresenceStateRow, PresenceStateRow.guard_id == guard_id),
        (AttendanceStateRow, AttendanceStateRow.guard_id == guard_id),
        (PatrolStateRow, PatrolStateRow.shift_id.startswith(his_shift, autoescape=True)),
    )
    found = [
        session.scalar(
            select(func.min(model.next_deadline))
            .join(ShiftRow, ShiftRow.id == model.shift_id)
            .where(mine, model.next_deadline.is_not(None), in_window(now))
        )
        for model, mine in states
    ]
    due = [utc(when) for when in found if when is not None]
    return min(due, default=None)


def _line(kind: str, row: Any) -> str:
    values = {column.key: _plain(getattr(row, column.key)) for column in row.__mapper__.columns}
    return json.dumps({"kind": kind, "row": values}, ensure_ascii=False) + "\n"


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
