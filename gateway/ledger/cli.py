"""``guard-gateway ledger DAY [--to DAY] [--site S] --out DIR``: a day's (or a run of days')
ledger written to files, progress on stderr."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the parser is built for every command: keep its imports light
    from gateway.clock import Clock
    from gateway.settings import Settings

__all__ = ["add_ledger_parser", "run_ledger_command"]


def add_ledger_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``ledger`` sub-command's arguments."""
    ledger = sub.add_parser("ledger", help="write a day's ledger (台账): JSON, CSV, XLSX, SVGs")
    ledger.add_argument("day", type=date.fromisoformat, help="the site's local day, YYYY-MM-DD")
    ledger.add_argument(
        "--to", type=date.fromisoformat, default=None, help="last day of a run (inclusive)"
    )
    ledger.add_argument("--site", action="append", default=[], help="only this site (repeat)")
    ledger.add_argument("--out", type=Path, required=True, help="directory to write into")


def run_ledger_command(
    args: argparse.Namespace, settings: Settings, clock: Clock, out: TextIO, err: TextIO
) -> int:
    """Write the ledgers; 1 for an unknown site or a run that ends before it starts."""
    from gateway.db.engine import make_engine
    from gateway.ledger.collect import UnknownSite
    from gateway.ledger.service import site_ids, write_days

    engine = make_engine(settings.database_url)
    try:
        sites = args.site or site_ids(engine)
        if not sites:
            print("guard-gateway: no site stored; load a site file first", file=err)
            return 1
        try:
            run = write_days(
                engine, sites, args.day, args.to or args.day, args.out, clock.now(), err
            )
        except (UnknownSite, ValueError) as exc:
            print(f"guard-gateway: {exc.args[0] if exc.args else exc}", file=err)
            return 1
    finally:
        engine.dispose()
    print(
        f"{args.out}: {run.files} file(s) for {run.days} day(s) of {len(sites)} site(s)", file=out
    )
    return 0
