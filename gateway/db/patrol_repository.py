"""Queries and writes for patrol checkpoints and attendance; each takes the caller's ``Session``.

The caller owns the transaction. Scans and punches are history: inserting one that is already
stored (same scan key; same terminal, person, time and kind) adds nothing and reports it as not
new, so a terminal pushing its log twice or a wand downloaded twice is counted once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.clock import utc
from gateway.db.models import (
    AttendanceStateRow,
    CheckpointRow,
    CheckpointTagRow,
    DeviceRow,
    GuardCredentialRow,
    PatrolStateRow,
    PunchRow,
    RouteCheckpointRow,
    RouteRow,
    ScanRow,
    SiteRow,
    WandDownloadRow,
)
from gateway.db.punch_corrections import StoredRecords
from gateway.db.repository import upsert
from gateway.db.slices import slices
from gateway.db.tag_aliases import owner_of_read
from gateway.records import CheckpointScan, Punch
from gateway.rules.patrol_plan import PlannedCheckpoint, RoutePlan, time_of_day
from gateway.site.schema import normalise_tag_id
from gateway.site.tag_forms import ReadForm, read_form

__all__ = [
    "checkpoint_index",
    "guard_for_card",
    "guard_for_person",
    "guard_for_pin",
    "insert_punches",
    "insert_scans",
    "known_scan_keys",
    "record_wand_download",
    "route_plans_for_post",
    "save_attendance_state",
    "save_patrol_state",
    "scan_key",
    "wand_downloads",
]


def _insert_ignoring_duplicates(session: Session, model: Any, values: dict[str, Any]) -> bool:
    """Insert one row unless a unique key already holds it; ``True`` when it was inserted.

    ``RETURNING`` tells the two apart on both backends (``rowcount`` is not reliable when the
    driver returns the generated key).
    """
    dialect = session.get_bind().dialect.name
    stmt: Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(model).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(model).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - the gateway runs on SQLite and PostgreSQL
        raise NotImplementedError(f"database {dialect} is not supported")
    return session.execute(stmt.returning(model.id)).first() is not None


# --- configuration lookups --------------------------------------------------------------------


def _credential(session: Session, site_id: str, kind: str, value: str) -> str | None:
    return session.scalar(
        select(GuardCredentialRow.guard_id).where(
            GuardCredentialRow.site_id == site_id,
            GuardCredentialRow.kind == kind,
            GuardCredentialRow.value == value,
        )
    )


def guard_for_pin(session: Session, site_id: str, pin: str) -> str | None:
    """The guard whose clock-in PIN (terminal user id) at ``site_id`` is ``pin``."""
    return _credential(session, site_id, "pin", pin.strip())


def guard_for_card(
    session: Session, site_id: str, card_id: str, *, form: ReadForm | None = None
) -> str | None:
    """The guard carrying card ``card_id`` at ``site_id`` (any form the site file accepts).

    With ``form`` (a decimal or Wiegand reader's read), also the guard whose card's EM4100 id
    reduces to it, and none when the read names more than one card or checkpoint
    (``gateway.db.tag_aliases``)."""
    try:
        card = normalise_tag_id(card_id)
    except ValueError:
        return None
    if form is not None:
        owner = owner_of_read(session, site_id, form, card)
        return owner.id if owner is not None and owner.kind == "guard" else None
    return _credential(session, site_id, "card", card)


def guard_for_person(
    session: Session, terminal_id: str, person_id: str, *, form: ReadForm | None = None
) -> str | None:
    """The guard a terminal's person id names: a PIN, or for a card reader a card (``form``:
    the form of a gate reader's reads, as for ``guard_for_card``); ``None`` for an unknown
    terminal or person (the caller reports ``attendance.unknown_person``)."""
    device = session.get(DeviceRow, terminal_id)
    if device is None:
        return None
    if device.kind == "clock_in":
        guard = guard_for_pin(session, device.site_id, person_id)
        if guard is not None:
            return guard
    return guard_for_card(session, device.site_id, person_id, form=form)


def checkpoint_index(
    session: Session,
) -> tuple[dict[str, tuple[str, str]], dict[str, list[RoutePlan]]]:
    """Every tag as ``tag id -> (checkpoint id, post id)``, and the routes of every post with
    checkpoints (``route_plans_for_post``): what the patrol stage resolves scans with."""
    checkpoints = {c.id: c.post_id for c in session.scalars(select(CheckpointRow))}
    tags = {
        t.tag_id: (t.checkpoint_id, checkpoints[t.checkpoint_id])
        for t in session.scalars(select(CheckpointTagRow))
    }
    posts = set(checkpoints.values())
    return tags, {post: route_plans_for_post(session, post) for post in posts}


def route_plans_for_post(session: Session, post_id: str) -> list[RoutePlan]:
    """The routes of a post as the patrol rules take them, in id order."""
    routes = session.scalars(
        select(RouteRow).where(RouteRow.post_id == post_id).order_by(RouteRow.id)
    ).all()
    plans: list[RoutePlan] = []
    for route in routes:
        steps = session.scalars(
            select(RouteCheckpointRow)
            .where(RouteCheckpointRow.route_id == route.id)
            .order_by(RouteCheckpointRow.position)
        ).all()
        site = session.get(SiteRow, route.site_id)
        plans.append(
            RoutePlan(
                route_id=route.id,
                post_id=route.post_id,
                checkpoints=tuple(
                    PlannedCheckpoint(s.checkpoint_id, s.window_start_s, s.window_end_s)
                    for s in steps
                ),
                ordered=route.ordered,
                every_s=route.every_s,
                offset_s=route.offset_s,
                times=tuple(time_of_day(t) for t in route.times),
                timezone=site.timezone if site is not None else "Asia/Shanghai",
            )
        )
    return plans


# --- history ----------------------------------------------------------------------------------


def scan_key(scan: CheckpointScan) -> str:
    """The dedupe key of a live reader's scan: reader, tag and device time."""
    return f"{scan.reader_id}|{scan.tag_id}|{utc(scan.scanned_at).isoformat()}"


def known_scan_keys(session: Session, keys: Collection[str]) -> set[str]:
    """Which of ``keys`` are already stored (for a wand import's ``known_keys``)."""
    found: set[str] = set()
    for part in slices(list(keys), 500):
        found.update(session.scalars(select(ScanRow.scan_key).where(ScanRow.scan_key.in_(part))))
    return found


def insert_scans(
    session: Session,
    scans: Sequence[CheckpointScan],
    *,
    checkpoint_ids: Sequence[str | None],
    keys: Sequence[str] | None = None,
    guard_id: str | None = None,
    shift_id: str | None = None,
) -> list[bool]:
    """Store scans as history; return, per scan, whether it was new.

    ``checkpoint_ids``: the checkpoint of each scan's tag as the caller resolved it
    (``gateway.pipeline.scan_attribution.checkpoint_of``; ``None`` for an unknown tag, which is
    stored all the same). ``keys`` default to :func:`scan_key` (pass a wand import's keys).
    ``guard_id`` and ``shift_id`` apply to every scan when the caller knows them (a wand
    carried by a guard).
    """
    if keys is not None and len(keys) != len(scans):
        raise ValueError("one key per scan")
    out: list[bool] = []
    for i, (scan, checkpoint_id) in enumerate(zip(scans, checkpoint_ids, strict=True)):
        out.append(
            _insert_ignoring_duplicates(
                session,
                ScanRow,
                {
                    "scan_key": scan_key(scan) if keys is None else keys[i],
                    "reader_id": scan.reader_id,
                    "tag_id": scan.tag_id,
                    "checkpoint_id": checkpoint_id,
                    "guard_id": guard_id,
                    "shift_id": shift_id,
                    "scanned_at": utc(scan.scanned_at),
                    "received_at": utc(scan.received_at),
                    "technology": scan.technology.value,
                    "ndef_text": scan.ndef_text,
                    "source_format": scan.source_format,
                    "raw": scan.raw,
                },
            )
        )
    return out


def insert_punches(
    session: Session,
    punches: Iterable[Punch],
    *,
    shift_ids: Sequence[str | None] | None = None,
) -> list[bool]:
    """Store punches as history; return, per punch, whether it was new (a punch already stored
    with the same terminal, person, time and kind is not, nor one a driver dated under another
    clock correction: ``gateway.db.punch_corrections``, one query for the batch). The guard is
    resolved with :func:`guard_for_person` (``None`` for an unknown person, stored all the
    same)."""
    batch = list(punches)
    if shift_ids is not None and len(shift_ids) != len(batch):
        raise ValueError("one shift id per punch")
    stored = StoredRecords(session, batch)
    out: list[bool] = []
    for i, punch in enumerate(batch):
        if stored.holds(punch):
            out.append(False)
            continue
        is_new = _insert_ignoring_duplicates(
            session,
            PunchRow,
            {
                "terminal_id": punch.terminal_id,
                "person_id": punch.person_id,
                "punched_at": utc(punch.punched_at),
                "kind": punch.kind.value,
                "verify": punch.verify.value,
                "guard_id": guard_for_person(
                    session,
                    punch.terminal_id,
                    punch.person_id,
                    form=read_form(punch.source_format),
                ),
                "shift_id": None if shift_ids is None else shift_ids[i],
                "received_at": utc(punch.received_at),
                "source_format": punch.source_format,
                "raw": punch.raw,
            },
        )
        if is_new:
            stored.add(punch)
        out.append(is_new)
    return out


# --- rule state -------------------------------------------------------------------------------


def save_patrol_state(
    session: Session,
    *,
    machine_id: str,
    shift_id: str,
    route_id: str,
    state: dict[str, Any],
    next_deadline: datetime | None,
    now: datetime,
) -> None:
    """Insert or replace a patrol machine's state (in the caller's transaction)."""
    upsert(
        session,
        PatrolStateRow,
        machine_id,
        {
            "machine_id": machine_id,
            "shift_id": shift_id,
            "route_id": route_id,
            "state": state,
            "next_deadline": next_deadline,
            "updated_at": now,
        },
    )


def load_attendance_state(session: Session, shift_id: str) -> dict[str, Any] | None:
    """A shift's saved attendance state, or ``None`` before its first save."""
    row = session.get(AttendanceStateRow, shift_id)
    return None if row is None else dict(row.state)


def save_attendance_state(
    session: Session,
    *,
    shift_id: str,
    guard_id: str,
    state: dict[str, Any],
    next_deadline: datetime | None,
    now: datetime,
) -> None:
    """Insert or replace a shift's attendance state (in the caller's transaction)."""
    upsert(
        session,
        AttendanceStateRow,
        shift_id,
        {
            "shift_id": shift_id,
            "guard_id": guard_id,
            "state": state,
            "next_deadline": next_deadline,
            "updated_at": now,
        },
    )


def record_wand_download(session: Session, wand_id: str, downloaded_at: datetime) -> None:
    """Record that ``wand_id`` was downloaded at ``downloaded_at`` (in the caller's
    transaction, with the scans it brought); an earlier download than the one recorded
    changes nothing."""
    at = utc(downloaded_at)
    dialect = session.get_bind().dialect.name
    table: Table = WandDownloadRow.__table__  # type: ignore[assignment]
    if dialect == "postgresql":
        pg = postgresql.insert(table).values(wand_id=wand_id, downloaded_at=at)
        stmt: Insert = pg.on_conflict_do_update(
            index_elements=["wand_id"],
            set_={"downloaded_at": pg.excluded.downloaded_at},
            where=table.c.downloaded_at < pg.excluded.downloaded_at,
        )
    elif dialect == "sqlite":
        lite = sqlite.insert(table).values(wand_id=wand_id, downloaded_at=at)
        stmt = lite.on_conflict_do_update(
            index_elements=["wand_id"],
            set_={"downloaded_at": lite.excluded.downloaded_at},
            where=table.c.downloaded_at < lite.excluded.downloaded_at,
        )
    else:  # pragma: no cover - the gateway runs on SQLite and PostgreSQL
        raise NotImplementedError(f"database {dialect} is not supported")
    session.execute(stmt)


def wand_downloads(session: Session) -> dict[str, datetime]:
    """When each wand was last downloaded (one row a wand)."""
    rows = session.execute(select(WandDownloadRow.wand_id, WandDownloadRow.downloaded_at))
    return {row.wand_id: utc(row.downloaded_at) for row in rows}
