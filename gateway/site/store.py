"""Writing one checked site's configuration rows: the part of a site load that touches tables.

``replace_site`` runs inside the loader's transaction (all or nothing): it removes the site's
configuration rows and inserts the new ones, keeping history (positions, scans, punches,
reports, leaves, alerts, the outbox) untouched. Shifts are both: those that have not ended
are configuration and replaced; those that ended before the load are the ledger's record of
their days and kept as stored, also when the file no longer names their guard or post; a
reload writes no shift that has already ended (history is not rewritten by a later file). See
``gateway.site.loader`` for the checks that come first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session

from gateway.db.models import (
    CheckpointRow,
    CheckpointTagRow,
    DeviceRow,
    GuardCredentialRow,
    GuardRow,
    LeaderRow,
    PostRow,
    RouteCheckpointRow,
    RouteRow,
    ShiftRow,
    SiteRow,
)
from gateway.outbox.tables import RobotRow
from gateway.site.checks import CheckedSite
from gateway.site.extend import insert_new_shifts
from gateway.site.robots import robot_rows
from gateway.site.schema import SiteEntry

__all__ = ["replace_site"]


def replace_site(session: Session, checked: CheckedSite, digest: str, now: datetime) -> None:
    """Replace the configuration rows of ``checked``'s site (``digest``: the file's, kept on
    the site row) in ``session``'s transaction."""
    site = checked.entry
    # Children first: devices, credentials, routes and checkpoints point at guards and posts;
    # route steps and tags point at routes and checkpoints.
    for model in (
        RobotRow,
        RouteCheckpointRow,
        RouteRow,
        CheckpointTagRow,
        CheckpointRow,
        GuardCredentialRow,
        DeviceRow,
        GuardRow,
        LeaderRow,
        PostRow,
    ):
        session.execute(delete(model).where(model.site_id == site.id))
    session.execute(delete(ShiftRow).where(ShiftRow.site_id == site.id, ShiftRow.ends_at > now))
    values: dict[str, Any] = {
        "name": site.name,
        "timezone": site.timezone,
        "policy": dict(site.policy),
        "roster": [s.model_dump(mode="json") for s in site.shifts if s.days is not None],
        "source_digest": digest,
        "loaded_at": now,
    }
    reloaded = session.get(SiteRow, site.id) is not None
    if reloaded:
        session.execute(update(SiteRow).where(SiteRow.id == site.id).values(**values))
    else:
        session.execute(insert(SiteRow).values(id=site.id, **values))
    _insert(
        session,
        LeaderRow,
        (
            {
                "id": x.id,
                "site_id": site.id,
                "name": x.name,
                "team": x.team,
                "contacts": x.contacts.as_dict(),
                "reports_to": x.reports_to,
            }
            for x in site.leaders
        ),
    )
    _insert(
        session,
        PostRow,
        (
            {
                "id": x.id,
                "site_id": site.id,
                "name": x.name,
                "kind": x.kind,
                "fence": x.fence.model_dump(mode="json"),
                "datum": x.datum,
            }
            for x in site.posts
        ),
    )
    _insert(
        session,
        GuardRow,
        (
            {
                "id": x.id,
                "site_id": site.id,
                "name": x.name,
                "team": x.team,
                "leader_ids": list(x.leaders),
                "contacts": x.contacts.as_dict(),
            }
            for x in site.guards
        ),
    )
    _insert(
        session,
        DeviceRow,
        (
            {
                "id": x.id,
                "site_id": site.id,
                "kind": x.kind,
                "guard_id": x.guard,
                "post_id": x.post,
                "secret_ref": x.secret_ref,
                "url": x.url,
                "variant": x.variant,
                "serial_number": x.sn,
                "timezone": x.timezone,
                "punch_kind": None if x.punch_kind is None else x.punch_kind.value,
            }
            for x in site.devices
        ),
    )
    _insert_patrol_config(session, site)
    _insert(session, RobotRow, robot_rows(site))
    shifts: list[dict[str, object]] = [
        {
            "id": s.id,
            "site_id": site.id,
            "guard_id": s.guard_id,
            "post_id": s.post_id,
            "starts_at": s.starts_at,
            "ends_at": s.ends_at,
        }
        for s in checked.shifts
        # A site's first load has no record to contradict: its file's shifts of the day before
        # are written as they stand. A later file does not write into days already recorded.
        if not reloaded or s.ends_at > now
    ]
    if shifts:
        insert_new_shifts(session, shifts)


def _insert_patrol_config(session: Session, site: SiteEntry) -> None:
    """Checkpoints with their tags, routes with their steps, guards' PINs and cards."""
    _insert(
        session,
        GuardCredentialRow,
        [
            {"site_id": site.id, "kind": "pin", "value": g.pin, "guard_id": g.id}
            for g in site.guards
            if g.pin is not None
        ]
        + [
            {"site_id": site.id, "kind": "card", "value": card, "guard_id": g.id}
            for g in site.guards
            for card in g.cards
        ],
    )
    _insert(
        session,
        CheckpointRow,
        (
            {"id": c.id, "site_id": site.id, "post_id": c.post, "name": c.name}
            for c in site.checkpoints
        ),
    )
    _insert(
        session,
        CheckpointTagRow,
        (
            {"tag_id": tag, "site_id": site.id, "checkpoint_id": c.id}
            for c in site.checkpoints
            for tag in c.tags
        ),
    )
    _insert(
        session,
        RouteRow,
        (
            {
                "id": r.id,
                "site_id": site.id,
                "post_id": r.post,
                "name": r.name or r.id,
                "ordered": r.ordered,
                "every_s": None if r.schedule.every_min is None else r.schedule.every_min * 60,
                "offset_s": r.schedule.offset_min * 60,
                "times": list(r.schedule.times or []),
            }
            for r in site.routes
        ),
    )
    _insert(
        session,
        RouteCheckpointRow,
        (
            {
                "route_id": r.id,
                "position": k,
                "site_id": site.id,
                "checkpoint_id": step.checkpoint,
                "window_start_s": step.window_min[0] * 60,
                "window_end_s": step.window_min[1] * 60,
            }
            for r in site.routes
            for k, step in enumerate(r.checkpoints)
        ),
    )


def _insert(session: Session, model: Any, rows: Iterable[dict[str, Any]]) -> None:
    batch = list(rows)
    if batch:
        session.execute(insert(model), batch)
