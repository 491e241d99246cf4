"""Producing ledgers: one site's day from the store (scoped), and a run of days written to files
with progress on a stream.

Files of a day ``D`` in ``DIR``: ``ledger-<site>-D.json``, ``ledger-<site>-D.csv``,
``ledger-<site>-D.xlsx`` and ``timelines/<site>-D-<guard>.svg``; a run over several days also
writes ``ledger-<site>-FROM_TO.csv`` and ``.xlsx`` with every day's rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.db.models import SiteRow
from gateway.ledger.collect import ShiftEvents, read_day, run_events
from gateway.ledger.figures import build_ledger
from gateway.ledger.lines import LedgerScope
from gateway.ledger.tables import ledger_csv, ledger_xlsx
from gateway.ledger.timeline import guard_lines, ledger_timeline

__all__ = ["CSV_ENCODING", "DayRun", "day_ledger", "safe_name", "site_ids", "write_days"]

DAYS_PER_READ = 7
"""A run reads the rule events a week at a time: one scan of the outbox per week rather than
per day, and never a whole month of events in memory at once."""
CSV_ENCODING = "utf-8-sig"
"""UTF-8 with a byte-order mark: without it Excel, which leaders open a CSV with, reads the
Chinese names as another code page."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def day_ledger(
    engine: Engine,
    site_id: str,
    day: date,
    now: datetime,
    scope: LedgerScope | None = None,
    events: ShiftEvents | None = None,
) -> dict[str, Any]:
    """The ledger of ``site_id`` on ``day`` (only the lines ``scope`` holds when given: a
    leader's; with the rule ``events`` of a run when already read); raises ``UnknownSite``."""
    with Session(engine) as session:
        return build_ledger(read_day(session, site_id, day, scope, events), now)


def site_ids(engine: Engine) -> list[str]:
    """Every stored site's id, sorted."""
    with Session(engine) as session:
        return sorted(session.scalars(select(SiteRow.id)))


def safe_name(name: str) -> str:
    """A file-name-safe form of an id (ids may hold characters a file system refuses)."""
    return _UNSAFE.sub("_", name)


@dataclass(frozen=True, slots=True)
class DayRun:
    """What ``write_days`` wrote: the number of days and files."""

    days: int
    files: int


def write_days(
    engine: Engine,
    sites: list[str],
    first: date,
    last: date,
    out: Path,
    now: datetime,
    progress: TextIO,
) -> DayRun:
    """Write each site's ledger for every day from ``first`` to ``last`` into ``out``, one line
    of progress per site and day on ``progress``."""
    if last < first:
        raise ValueError(f"--to {last} is before {first}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "timelines").mkdir(exist_ok=True)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    total, done, files = len(days) * len(sites), 0, 0
    for site_id in sites:
        ledgers = []
        events: ShiftEvents = {}
        for index, day in enumerate(days):
            if index % DAYS_PER_READ == 0:
                batch_end = days[min(index + DAYS_PER_READ, len(days)) - 1]
                with Session(engine) as session:
                    events = run_events(session, site_id, day, batch_end)
            ledger = day_ledger(engine, site_id, day, now, events=events)
            ledgers.append(ledger)
            stem = f"ledger-{safe_name(site_id)}-{day.isoformat()}"
            (out / f"{stem}.json").write_text(
                json.dumps(ledger, ensure_ascii=False, indent=1), encoding="utf-8"
            )
            (out / f"{stem}.csv").write_text(ledger_csv([ledger]), encoding=CSV_ENCODING)
            (out / f"{stem}.xlsx").write_bytes(ledger_xlsx([ledger]))
            files += 3
            for guard in guard_lines(ledger):
                if not guard["shifts"]:
                    continue
                name = f"{safe_name(site_id)}-{day.isoformat()}-{safe_name(guard['guard_id'])}.svg"
                svg = ledger_timeline(ledger, guard)
                (out / "timelines" / name).write_text(svg, encoding="utf-8")
                files += 1
            done += 1
            print(
                f"ledger {done}/{total} ({100 * done // total}%): {site_id} {day.isoformat()}, "
                f"{len(ledger['guards'])} guard(s)",
                file=progress,
                flush=True,
            )
        if len(days) > 1:
            stem = f"ledger-{safe_name(site_id)}-{first.isoformat()}_{last.isoformat()}"
            (out / f"{stem}.csv").write_text(ledger_csv(ledgers), encoding=CSV_ENCODING)
            (out / f"{stem}.xlsx").write_bytes(ledger_xlsx(ledgers))
            files += 2
    return DayRun(len(days), files)
