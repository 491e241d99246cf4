"""Keeping a running gateway's shifts ahead of the clock.

A load expands roster lines for about a week; a gateway that runs longer calls ``extend_shifts``
(e.g. once an hour) to expand the stored roster lines around the current time. It only adds
shifts: existing ones (same id) are kept, and an occurrence that would overlap another shift of
the same guard (a concrete shift beyond the week checked at load time) is skipped and logged.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.models import ShiftRow, SiteRow
from gateway.site.roster import expand_entry, expansion_days, shift_id
from gateway.site.schema import ShiftEntry
from gateway.site.shift_writes import insert_new_shifts, shift_row

__all__ = ["ExtensionKey", "extend_shifts", "extension_key"]

logger = logging.getLogger(__name__)

ExtensionKey = tuple[tuple[str, datetime, date, date], ...]
"""Each site, when it was loaded and the local days its roster lines are expanded over."""


def extension_key(session: Session, now: datetime) -> ExtensionKey:
    """What ``extend_shifts`` at ``now`` depends on: each site's roster lines (replaced only by
    a site load: its ``loaded_at``) and the days around its local today. ``extend_shifts`` at a
    ``now`` of the same key adds nothing that one at the earlier ``now`` did not."""
    rows = session.execute(select(SiteRow.id, SiteRow.loaded_at, SiteRow.timezone)).tuples()
    return tuple(sorted((sid, at, *expansion_days(now, ZoneInfo(zone))) for sid, at, zone in rows))


def extend_shifts(session: Session, now: datetime) -> int:
    """Add the roster's shifts for the local days around ``now`` to every site; return the count.

    None is written that has ended by ``now`` (the days before were recorded as they were
    rostered then). One under way (a gateway that was stopped past the week expanded) is
    written as rostered, known from ``now``, as a site's first load writes it
    (``gateway.site.shift_writes``): the guard's fixes since its start count, and his graces
    run from ``now``, when the gateway first knew of the shift. Runs in the caller's
    transaction; idempotent. Several gateways on one database expand the same lines when the
    day turns: a shift another one inserted since this one read is left to it (``ON CONFLICT
    DO NOTHING``), not an error that fails this one's reload.
    """
    added = 0
    for site in session.scalars(select(SiteRow)).all():
        tz = ZoneInfo(site.timezone)
        first_day, last_day = expansion_days(now, tz)
        window_start = now - timedelta(days=3)
        # Plain rows of the columns needed: as many as shifts in these days, whatever the history.
        existing = session.execute(
            select(ShiftRow.id, ShiftRow.guard_id, ShiftRow.starts_at, ShiftRow.ends_at).where(
                ShiftRow.site_id == site.id, ShiftRow.ends_at > window_start
            )
        ).all()
        known = {s.id for s in existing}
        spans: dict[str, list[tuple[datetime, datetime]]] = {}
        for s in existing:
            spans.setdefault(s.guard_id, []).append((s.starts_at, s.ends_at))
        rows: list[dict[str, object]] = []
        for raw in site.roster:
            entry = ShiftEntry.model_validate(raw)
            for start, end in expand_entry(entry, tz, first_day, last_day):
                new_id = shift_id(entry.guard, entry.post, start)
                if new_id in known or end <= now:  # an ended shift is the record's, not ours
                    continue
                taken = spans.setdefault(entry.guard, [])
                if any(start < e and s < end for s, e in taken):
                    if start >= now:  # under way, it is the duty a load already wrote
                        logger.warning(
                            "site %s: roster shift %s overlaps another shift of guard %s; skipped",
                            site.id,
                            new_id,
                            entry.guard,
                        )
                    continue
                taken.append((start, end))
                known.add(new_id)
                known_from = now if start < now else None
                rows.append(
                    shift_row(
                        site.id, entry.guard, entry.post, start, end, start, known_from=known_from
                    )
                )
        if rows:
            added += insert_new_shifts(session, rows)
    if added:
        logger.info("added %d roster shifts", added)
    return added
