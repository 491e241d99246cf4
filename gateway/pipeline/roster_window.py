"""The roster's window and what is read with it: which shifts are kept around now
(``in_window``), the fingerprint that says whether a read would find anything new
(``roster_fingerprint``), and the posts' fences (``site_fences``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from gateway.db.models import PostRow, ShiftRow, SiteRow
from gateway.db.slices import slices
from geofence import PostFence, SiteProjection

__all__ = [
    "WINDOW_AFTER",
    "WINDOW_BEFORE",
    "RosterFingerprint",
    "in_window",
    "roster_fingerprint",
    "site_fences",
]

WINDOW_BEFORE = timedelta(days=2)
WINDOW_AFTER = timedelta(days=2)


RosterFingerprint = tuple[tuple[tuple[str, datetime], ...], int, datetime | None, datetime | None]
"""Sites and when each was loaded; count, earliest end and latest start of the window's shifts."""


def roster_fingerprint(session: Session, now: datetime) -> RosterFingerprint:
    """What changes whenever the roster ``gateway.pipeline.duty_load.load_duties`` would read
    around ``now`` differs from the one read at an earlier now with the same fingerprint.

    Guards, devices, posts and policies change only with a site load (its ``loaded_at``). The
    window's shifts: one added (a roster extended by another process) raises the count unless
    another left at once; one leaving by time raises the earliest end (it ended before every
    shift that stays); one entering by time raises the latest start (it starts after every
    shift that was in). Shifts are otherwise changed or removed only by a site load. One
    aggregate over the window, where reading the roster costs seconds at city scale."""
    sites = tuple(sorted(session.execute(select(SiteRow.id, SiteRow.loaded_at)).tuples()))
    count, earliest_end, latest_start = session.execute(
        select(func.count(), func.min(ShiftRow.ends_at), func.max(ShiftRow.starts_at)).where(
            in_window(now)
        )
    ).one()
    return sites, int(count), earliest_end, latest_start


def in_window(now: datetime) -> ColumnElement[bool]:
    """The condition on ``ShiftRow`` of the shifts ``gateway.pipeline.duty_load.load_duties``
    keeps around ``now``: the states the pipeline re-reads are joined on it, so a reload reads
    what is in the window, whatever the history stored."""
    return and_(ShiftRow.ends_at > now - WINDOW_BEFORE, ShiftRow.starts_at < now + WINDOW_AFTER)


def site_fences(
    session: Session, needed: set[str], known: dict[str, tuple[str, str, PostFence]]
) -> dict[str, tuple[str, PostFence]]:
    """The fences of the ``needed`` posts, each in its site's metric plane (origin: the site's
    first post). ``known`` (post id → site id, name, fence) are taken as they are: the posts of
    sites unchanged since the previous index.

    Only the posts the window's shifts stand at are built: a city site may list 100,000 posts,
    the roster is read again every few minutes, and building a fence costs a shapely polygon
    and a projection."""
    out = {p: (known[p][1], known[p][2]) for p in needed if p in known}
    missing = needed - out.keys()
    if not missing:
        return out
    # Ids first, drawings only of the posts built: decoding 100,000 fences' JSON was most of
    # the cost once only the needed ones were built.
    ids = session.execute(select(PostRow.site_id, PostRow.id)).all()
    first: dict[str, str] = {}
    for site_id, post_id in ids:
        if site_id not in first or post_id < first[site_id]:
            first[site_id] = post_id
    # A site whose fences are known has its plane already: the same first post drew it.
    projections: dict[str, SiteProjection] = {
        site: fence.projection for site, _, fence in known.values()
    }
    wanted = sorted(missing | {p for site, p in first.items() if site not in projections})
    drawn: dict[str, Any] = {}
    for chunk in slices(wanted):
        query = select(PostRow.id, PostRow.site_id, PostRow.name, PostRow.fence, PostRow.datum)
        for row in session.execute(query.where(PostRow.id.in_(chunk))):
            drawn[row.id] = row
    for post_id in sorted(drawn, key=lambda p: (p != first[drawn[p].site_id], p)):
        post = drawn[post_id]
        projection = projections.get(post.site_id)
        fence = PostFence.from_geojson(post.fence, datum=post.datum, projection=projection)
        projections.setdefault(post.site_id, fence.projection)
        if post_id in missing:
            out[post_id] = (post.name, fence)
    return out
