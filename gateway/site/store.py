"""Writing one checked site's configuration rows: the part of a site load that touches tables.

``replace_site`` runs inside the loader's transaction (all or nothing): it removes the site's
configuration rows and inserts the new ones, keeping history (positions, scans, punches,
reports, leaves, alerts, the outbox) untouched. Shifts are both configuration and the ledger's
record: ``gateway.site.shift_writes`` replaces them from the load's instant on and keeps what
has passed. See ``gateway.site.loader`` for the checks that come first.
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
    SiteRow,
    TagAliasRow,
)
from gateway.outbox.tables import RobotRow
from gateway.site.checks import CheckedSite
from gateway.site.robots import robot_rows
from gateway.site.schema import SiteEntry
from gateway.site.shift_writes import replace_shifts
from gateway.site.tag_forms import reduced_ids, site_read_forms

__all__ = ["clear_site", "replace_site"]


def clear_site(session: Session, site_id: str) -> None:
    """Delete the configuration rows of site ``site_id`` (not the site row, its shifts or its
    records) in ``session``'s transaction. A file's sites are all cleared before any is
    written: a guard or device it moves from one of its sites to another keeps its id, which
    must be free whatever the order of the sites in the file."""
    # Children first: devices, credentials, routes and checkpoints point at guards and posts;
    # route steps, tags and their short forms point at routes, checkpoints and guards.
    for model in (
        RobotRow,
        TagAliasRow,
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
        session.execute(delete(model).where(model.site_id == site_id))


def replace_site(session: Session, checked: CheckedSite, digest: str, now: datetime) -> None:
    """Write the configuration rows of ``checked``'s site (``digest``: the file's, kept on the
    site row) in ``session``'s transaction, after ``clear_site`` of every site of the file."""
    site = checked.entry
    values: dict[str, Any] = {
        "name": site.name,
        "timezone": site.timezone,
        "policy": dict(site.policy),
        "roster": [s.model_dump(mode="json") for s in site.shifts if s.days is not None],
        "source_digest": digest,
        "loaded_at": now,
    }
    first_load = session.get(SiteRow, site.id) is None
    if first_load:
        session.execute(insert(SiteRow).values(id=site.id, **values))
    else:
        session.execute(update(SiteRow).where(SiteRow.id == site.id).values(**values))
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
                "addresses": " ".join(x.address) if x.address else None,
            }
            for x in site.devices
        ),
    )
    _insert_patrol_config(session, site)
    _insert(session, RobotRow, robot_rows(site))
    replace_shifts(session, site.id, checked.shifts, now, first_load=first_load)


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
    _insert(session, TagAliasRow, _alias_rows(site))
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


def _alias_rows(site: SiteEntry) -> Iterable[dict[str, Any]]:
    """The short forms of the site's EM4100 tags and cards that its readers deliver
    (``gateway.site.tag_forms``): none for a site whose readers all give the whole id."""
    forms = site_read_forms(site)
    if not forms:
        return
    owned: list[tuple[str, str | None, str | None]]
    owned = [(tag, c.id, None) for c in site.checkpoints for tag in c.tags]
    owned += [(card, None, g.id) for g in site.guards for card in g.cards]
    for tag, checkpoint_id, guard_id in owned:
        for form, alias in reduced_ids(tag).items():
            if form in forms:
                yield {
                    "site_id": site.id,
                    "form": form.value,
                    "alias": alias,
                    "tag_id": tag,
                    "checkpoint_id": checkpoint_id,
                    "guard_id": guard_id,
                }


def _insert(session: Session, model: Any, rows: Iterable[dict[str, Any]]) -> None:
    batch = list(rows)
    if batch:
        session.execute(insert(model), batch)
