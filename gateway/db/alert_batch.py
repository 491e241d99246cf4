"""Alerts changed in bulk: a batch's openings, updates and resolutions in a few statements.

``apply_alert_changes`` does what ``open_or_update_alert`` and ``resolve_alert`` do one by one,
for a whole list of changes in their order: one ``SELECT`` for every key the list names (in
chunks), the changes applied in memory, then one ``INSERT`` (executemany) of the alerts it
opened and one ``UPDATE`` (executemany) per set of columns it changed on alerts already stored.
Same rows as the one-by-one functions, in a number of statements that does not grow with the
list. Runs in the caller's ``Session`` and never commits.

The same ``SELECT`` reads whether each stored alert was escalated, and to whom: the groups it
was escalated to must hear of its end (``gateway.pipeline.pending``), and learning it there
costs no statement more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from gateway.db.driver_rows import DriverRows
from gateway.db.models import AlertRow
from gateway.db.slices import slices

__all__ = ["AlertOpen", "AlertResolve", "AlertsApplied", "apply_alert_changes"]

_TABLE: Table = AlertRow.__table__  # type: ignore[assignment]

# Keys per SELECT: far below SQLite's and PostgreSQL's limits on bound parameters.
_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class AlertOpen:
    """Open the alert of episode ``alert_key``, or update it if it exists (as
    ``open_or_update_alert``: an existing alert keeps its status, acknowledgement and first
    fields; only ``last_event_id``, ``data`` and ``updated_at`` change)."""

    alert_key: str
    type: str
    guard_id: str
    at: datetime
    event_id: str
    shift_id: str | None
    site_id: str | None
    post_id: str | None
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AlertResolve:
    """Resolve the alert ``alert_key`` (as ``resolve_alert``: a resolved alert stays as it is,
    except that a withdrawal overrides an automatic end). ``event_key`` names the event that
    resolves it, for the log when the alert is unknown."""

    alert_key: str
    at: datetime
    by: str | None
    event_id: str
    resolution: str
    event_key: str


AlertChange = AlertOpen | AlertResolve


@dataclass(slots=True)
class AlertsApplied:
    """What ``apply_alert_changes`` did: alerts opened, alerts stored before and changed, the
    resolutions skipped because their alert is unknown (``(event_key, alert_key)``), and
    ``escalated``: for each event (by id) that ended or withdrew an alert escalated before, the
    leaders it was escalated to (ids, each once, in the order met).

    Only a resolution that changed its alert counts there: one that finds it already settled
    (a repeat, a return after a hand resolution) ends nothing."""

    opened: int = 0
    updated: int = 0
    unknown: list[tuple[str, str]] = field(default_factory=list)
    escalated: dict[str, list[str]] = field(default_factory=dict)


def apply_alert_changes(session: Session, changes: Sequence[AlertChange]) -> AlertsApplied:
    """Apply ``changes`` in order (see the module docstring) and say what was done.

    Changes the ORM holds unflushed are written first, so they come before these; alert rows
    the session holds and this changed are expired, so they are read again when next used.
    """
    done = AlertsApplied()
    if not changes:
        return done
    session.flush()
    stored = _stored(session, list(dict.fromkeys(c.alert_key for c in changes)))
    new: dict[str, dict[str, Any]] = {}
    # Alert key → a stored alert's id, status and resolution as they are now (to judge the next
    # change) and the columns set on it.
    changed: dict[str, dict[str, Any]] = {}
    for change in changes:
        key = change.alert_key
        row = new.get(key) or changed.get(key)
        if row is None and key in stored:
            row = changed[key] = dict(stored[key])
        if isinstance(change, AlertOpen):
            if row is None:
                new[key] = _opened(change)
            else:
                row.update(last_event_id=change.event_id, updated_at=change.at)
                row["data"] = dict(change.data)
        elif row is None:
            done.unknown.append((change.event_key, key))
        elif _resolve(row, change) and row.get("escalated_to"):
            leaders = done.escalated.setdefault(change.event_id, [])
            leaders.extend(x for x in row["escalated_to"] if x not in leaders)
    if new:
        _insert(session, list(new.values()))
        done.opened = len(new)
    done.updated = _update(session, stored, changed)
    if done.updated:
        _expire(session, set(changed))
    return done


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    connection = session.connection()
    prepared = _INSERT.prepared(connection.dialect)
    if prepared is None:
        session.execute(insert(_TABLE), rows)
    else:
        # Plain tuples (gateway.db.driver_rows): at a shift change tens of thousands of alerts
        # open in one batch, and SQLAlchemy's per-row parameter work cost more than the insert.
        prepared.execute(connection, rows)


_OPENED_COLUMNS = (
    "alert_key",
    "type",
    "guard_id",
    "shift_id",
    "site_id",
    "post_id",
    "opened_at",
    "updated_at",
    "status",
    "resolution",
    "resolved_at",
    "resolved_by",
    "resolved_note",
    "last_event_id",
    "data",
)
"""The columns of an opened alert (``_opened``'s keys); ``escalated_to`` is left out, as the
ORM leaves it out, so it stays SQL NULL rather than JSON null."""

_INSERT = DriverRows(
    _TABLE,
    _OPENED_COLUMNS,
    lambda mark, cast: (
        f"INSERT INTO {_TABLE.name} ({', '.join(_OPENED_COLUMNS)})"
        f" VALUES ({', '.join(mark + cast(column) for column in _OPENED_COLUMNS)})"
    ),
)

_STATE = ("id", "status", "resolution", "escalated_to")
"""What is read of a stored alert: enough to apply any change to it, and whom it was escalated
to (never changed here, so never written back)."""


def _stored(session: Session, keys: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    columns = [_TABLE.c.alert_key, *(_TABLE.c[name] for name in _STATE)]
    for chunk in slices(keys, _CHUNK):
        rows = session.execute(select(*columns).where(_TABLE.c.alert_key.in_(chunk)))
        for row in rows:
            found[row.alert_key] = {name: getattr(row, name) for name in _STATE}
    return found


def _opened(change: AlertOpen) -> dict[str, Any]:
    # Every row of the INSERT names the same columns, ``_OPENED_COLUMNS``.
    return {
        "alert_key": change.alert_key,
        "type": change.type,
        "guard_id": change.guard_id,
        "shift_id": change.shift_id,
        "site_id": change.site_id,
        "post_id": change.post_id,
        "opened_at": change.at,
        "updated_at": change.at,
        "status": "open",
        "resolution": None,
        "resolved_at": None,
        "resolved_by": None,
        "resolved_note": None,
        "last_event_id": change.event_id,
        "data": dict(change.data),
    }


def _resolve(row: dict[str, Any], change: AlertResolve) -> bool:
    """The rules of ``resolve_alert``, on a row in memory; whether the change took effect."""
    if row["status"] == "resolved":
        if change.resolution == "withdrawn" and row["resolution"] == "ended":
            row.update(resolution="withdrawn", last_event_id=change.event_id)
            return True
        return False
    row.update(
        status="resolved",
        resolution=change.resolution,
        resolved_at=change.at,
        resolved_by=change.by,
        resolved_note=None,
        updated_at=change.at,
        last_event_id=change.event_id,
    )
    return True


def _update(
    session: Session, stored: dict[str, dict[str, Any]], changed: dict[str, dict[str, Any]]
) -> int:
    """One executemany per set of columns changed: only what changed is written, as the ORM
    would (an acknowledgement another process committed meanwhile is not overwritten).
    Returns how many alerts were changed."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for key, row in changed.items():
        before = stored[key]
        columns = tuple(sorted(c for c in row if c not in before or row[c] != before[c]))
        if columns:
            params = {f"new_{c}": row[c] for c in columns}
            params["alert_id"] = row["id"]
            by_columns.setdefault(columns, []).append(params)
    for columns, rows in by_columns.items():
        stmt = (
            update(_TABLE)
            .where(_TABLE.c.id == bindparam("alert_id"))
            .values({c: bindparam(f"new_{c}") for c in columns})
        )
        # A Core UPDATE through the session: executemany, no ORM bookkeeping per row.
        session.connection().execute(stmt, rows)
    return sum(len(rows) for rows in by_columns.values())


def _expire(session: Session, keys: set[str]) -> None:
    for obj in list(session.identity_map.values()):
        if isinstance(obj, AlertRow) and obj.__dict__.get("alert_key") in keys:
            session.expire(obj)
