"""What the live page draws: the posts' fences and checkpoints of a token's sites, and a guard's
track of a day, in the datum of the map they are drawn on.

Fences are stored as drawn (GCJ-02 on AMap, BD-09 on Baidu, or WGS-84); positions in WGS-84.
Both are converted here, on the server, with ``geofence.datum``, so the page never holds a second
implementation of the offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from gateway.api.shift_scope import kept_shifts_of
from gateway.api.tokens import Principal, Role
from gateway.db import repository as repo
from gateway.db.models import GuardRow, PositionRow, PostRow, SiteRow
from gateway.db.patrol_models import CheckpointRow
from geofence.datum import Datum, from_wgs84
from geofence.fence import PostFence

__all__ = ["TRACK_MAX_POINTS", "TileLayer", "guard_track", "site_map"]

TRACK_MAX_POINTS = 20_000
"""Most fixes a track returns: a fix every 5 s for a whole day is 17,280."""

_DIGITS = 7
"""Decimal places of a degree kept: about 1 cm, far below any fix's accuracy."""


@dataclass(frozen=True, slots=True)
class TileLayer:
    """A slippy-map tile server drawn under the page's fences, and the datum of its tiles."""

    url_template: str
    datum: Datum
    attribution: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "url": self.url_template,
            "datum": self.datum.value,
            "attribution": self.attribution,
        }


def _point(lon: float, lat: float, datum: Datum) -> list[float]:
    x, y = from_wgs84(lon, lat, datum)
    return [round(x, _DIGITS), round(y, _DIGITS)]


def _rings(fence: PostFence, datum: Datum) -> list[list[list[list[float]]]]:
    """The fence as polygons of rings (exterior first) of ``[lon, lat]`` in ``datum``; a circle
    comes as the polygon the geofence tests against."""
    shape = fence.wgs84
    polygons = list(shape.geoms) if hasattr(shape, "geoms") else [shape]
    out = []
    for polygon in polygons:
        rings = [polygon.exterior, *polygon.interiors]
        out.append([[_point(x, y, datum) for x, y in ring.coords] for ring in rings])
    return out


def _post_json(row: PostRow, datum: Datum) -> dict[str, Any]:
    fence = PostFence.from_geojson(row.fence, datum=row.datum)
    circle = fence.circle
    center = fence.wgs84.centroid
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "drawn_in": row.datum,
        "polygons": _rings(fence, datum),
        "circle": None
        if circle is None
        else {"center": _point(circle[0], circle[1], datum), "radius_m": circle[2]},
        "label_at": _point(center.x, center.y, datum),
    }


def site_map(session: Session, principal: Principal, datum: Datum) -> list[dict[str, Any]]:
    """The sites ``principal`` may see (a leader's own; all for other roles), each with its
    posts (fence polygons in ``datum``) and patrol checkpoints (by post: the site file gives
    them no position)."""
    stmt = select(SiteRow).order_by(SiteRow.id)
    if principal.role is Role.LEADER:
        stmt = stmt.where(SiteRow.id.in_(sorted(principal.sites)))
    sites = []
    for site in session.scalars(stmt):
        posts = session.scalars(
            select(PostRow).where(PostRow.site_id == site.id).order_by(PostRow.id)
        )
        checkpoints = session.scalars(
            select(CheckpointRow).where(CheckpointRow.site_id == site.id).order_by(CheckpointRow.id)
        )
        sites.append(
            {
                "id": site.id,
                "name": site.name,
                "timezone": site.timezone,
                "posts": [_post_json(post, datum) for post in posts],
                "checkpoints": [
                    {"id": cp.id, "name": cp.name, "post_id": cp.post_id} for cp in checkpoints
                ],
            }
        )
    return sites


def guard_track(
    session: Session,
    principal: Principal,
    guard_id: str,
    day: date | None,
    datum: Datum,
    now: datetime,
) -> dict[str, Any]:
    """The accepted fixes of ``guard_id`` on ``day`` (the site's local date; default: today
    there), oldest first, in ``datum``, at most ``TRACK_MAX_POINTS`` (``truncated`` says so).

    Scoped as his alerts are (``gateway.api.shift_scope``): the fixes of a shift a site load
    ended with him moved to another site or team, or taken out of the file, are that shift's
    site's and team's; the rest go by his row. A leader of that team reads those of that shift
    only, under the name and site it kept (a guard since taken out of the file included); his
    new leader reads the rest. A guard a token reads nothing of is answered as unknown
    (``repo.NotFound``), so a token cannot probe for others' guards.
    """
    guard = session.get(GuardRow, guard_id)
    by_row = guard is not None and principal.covers(guard.site_id, guard.team)
    kept = kept_shifts_of(session, guard_id)
    covered = [k for k in kept if principal.covers(k.site_id, k.team)]
    if not by_row and not covered:
        raise repo.NotFound(f"unknown guard {guard_id!r}")
    if by_row and guard is not None:
        site_id, name = guard.site_id, guard.name
        others = sorted({k.shift_id for k in kept} - {k.shift_id for k in covered})
        held: ColumnElement[bool] = or_(
            PositionRow.shift_id.is_(None), PositionRow.shift_id.not_in(others)
        )
    else:  # through the kept shifts alone: the latest one's site and name
        site_id, name = covered[-1].site_id, covered[-1].guard_name
        held = PositionRow.shift_id.in_(sorted(k.shift_id for k in covered))
    site = session.get(SiteRow, site_id)
    zone = ZoneInfo(site.timezone if site is not None else "UTC")
    day = day or now.astimezone(zone).date()
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    rows = list(
        session.scalars(
            select(PositionRow)
            .where(
                PositionRow.guard_id == guard_id,
                PositionRow.fix_time >= start,
                PositionRow.fix_time < end,
                PositionRow.drop_reason.is_(None),
                held,
            )
            .order_by(PositionRow.fix_time, PositionRow.id)
            .limit(TRACK_MAX_POINTS + 1)
        )
    )
    points = [
        {
            "time": row.fix_time.isoformat(),
            "device_id": row.device_id,
            "position": _point(row.lon, row.lat, datum),
            "accuracy_m": row.accuracy_m,
            "membership": row.membership,
        }
        for row in rows[:TRACK_MAX_POINTS]
    ]
    return {
        "guard_id": guard_id,
        "guard_name": name,
        "date": day.isoformat(),
        "timezone": zone.key,
        "datum": datum.value,
        "points": points,
        "truncated": len(rows) > TRACK_MAX_POINTS,
    }
