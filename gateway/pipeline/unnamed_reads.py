"""Scans and punches that name nobody: counted, reported and, when ambiguous, logged.

A tag or person the site file does not know (no checkpoint tag, card or PIN) is counted
(``scans.unknown_tag``, ``punches.unknown_person``) and reported (``patrol.unknown_tag``,
``attendance.unknown_person``), never dropped silently.

A read in a short form that two owners share (``gateway.site.tag_forms``: two EM4100 ids with
the same low 32 or 24 bits, or one written in the short form that another's reduces to; the
site load names them in a notice) names nobody either and is reported the same way, but it is
no unknown tag: it is counted apart (``scans.ambiguous_read``, ``punches.ambiguous_read``, on
``/health`` and ``/metrics`` with the other counters) and logged with the form, the read and
its candidate owners, so the person who hears that a card "does not work" finds why. The log
says it at most once per reader and read per ``interval`` of the injected clock, with how many
were left out since; at most ``MAX_TRACKED`` pairs are remembered.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.db.tag_aliases import owners_of_read
from gateway.pipeline.context import BatchContext
from gateway.pipeline.emitter import Emitter
from gateway.pipeline.memory import PipelineMemory
from gateway.pipeline.scan_attribution import ShortRead
from gateway.records import CheckpointScan, Punch
from gateway.rules.patrol_events import unknown_person_event, unknown_tag_event
from gateway.site.schema import normalise_tag_id
from gateway.site.tag_forms import ReadForm, TagOwner, read_form

__all__ = ["MAX_TRACKED", "UnnamedReads"]

log = logging.getLogger(__name__)

MAX_TRACKED = 10_000
"""``(reader, read)`` pairs remembered for the log's rate limit before the quiet ones go."""


@dataclass(slots=True)
class _Seen:
    logged_at: datetime
    left_out: int = 0


class UnnamedReads:
    """Counts, reports and logs the reads that name nobody (module docstring). Used by the
    pipeline's owner thread only."""

    def __init__(
        self,
        memory: PipelineMemory,
        emitter: Emitter,
        interval: timedelta = timedelta(seconds=60),
    ) -> None:
        self._memory = memory
        self._emitter = emitter
        self._interval = interval
        self._seen: dict[tuple[str, str], _Seen] = {}

    def scan(
        self, ctx: BatchContext, scan: CheckpointScan, now: datetime, read: ShortRead | None
    ) -> None:
        """``scan`` names no checkpoint and no card; ``read``: what it may name, when read in a
        short form (``scan_attribution.short_read``)."""
        if read is not None and len(read.owners) > 1:
            ctx.counters.add("scans.ambiguous_read")
            self._log(ctx.now, scan.reader_id, read.form, read.tag, read.owners)
        else:
            ctx.counters.add("scans.unknown_tag")
        site = self._memory.duties.site_of_device(scan.reader_id)
        event = unknown_tag_event(scan, now, site_id=site)
        self._emitter.emit(ctx, event, subject=scan.reader_id)

    def punch(self, ctx: BatchContext, punch: Punch, now: datetime) -> None:
        """``punch`` names no guard (no PIN, no card of the terminal's site)."""
        site = self._memory.duties.site_of_device(punch.terminal_id)
        form = read_form(punch.source_format)
        owners: Collection[TagOwner] = ()
        if form is not None and site is not None:
            try:
                person = normalise_tag_id(punch.person_id)
            except ValueError:
                person = ""
            owners = owners_of_read(ctx.session, site, form, person) if person else ()
        if form is not None and len(owners) > 1:
            ctx.counters.add("punches.ambiguous_read")
            self._log(ctx.now, punch.terminal_id, form, normalise_tag_id(punch.person_id), owners)
        else:
            ctx.counters.add("punches.unknown_person")
        event = unknown_person_event(punch, now, site_id=site)
        self._emitter.emit(ctx, event, subject=punch.terminal_id)

    def _log(
        self, now: datetime, device: str, form: ReadForm, read: str, owners: Collection[TagOwner]
    ) -> None:
        key = (device, f"{form.value}:{read}")
        seen = self._seen.get(key)
        if seen is not None and now - seen.logged_at < self._interval:
            seen.left_out += 1
            return
        if seen is None and len(self._seen) >= MAX_TRACKED:
            self._forget_quiet(now)
        self._seen[key] = _Seen(now)
        named = ", ".join(str(owner) for owner in sorted(owners))
        more = "" if seen is None or not seen.left_out else f" ({seen.left_out} more since)"
        log.warning(
            "%s read %r by %s names nobody: it may be %s (they share that %s form; give one "
            "another tag or card)%s",
            form.value,
            read,
            device,
            named,
            form.value,
            more,
        )

    def _forget_quiet(self, now: datetime) -> None:
        self._seen = {
            key: seen for key, seen in self._seen.items() if now - seen.logged_at < self._interval
        }
        while len(self._seen) >= MAX_TRACKED:  # all busy: forget the oldest
            del self._seen[next(iter(self._seen))]
