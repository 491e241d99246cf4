"""The ``guard-gateway data`` sub-commands: purge now, export or erase one guard's data.

Export and erasure are audited (``gateway.privacy.audit``) as the operator's login name on this
host; ``guard-gateway audit list --guard ID`` shows them beside the API's actions."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from typing import TextIO

from sqlalchemy import Engine

from gateway.clock import Clock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.ops.progress import stderr_progress
from gateway.privacy.audit import audited_erasure, audited_export, cli_actor
from gateway.privacy.retention import purge
from gateway.privacy.subject import ErasureRefused, guard_data_exists
from gateway.settings import Settings

__all__ = ["run_data_command"]


def run_data_command(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    """Run ``args.data_command`` on the configured database; returns the exit code."""
    engine = make_engine(settings.database_url)
    try:
        create_schema(engine)
        if args.data_command == "purge":
            return _purge(engine, settings, clock)
        if args.data_command == "export":
            return _export(engine, args, clock)
        return _erase(engine, args, clock)
    finally:
        engine.dispose()


def _purge(engine: Engine, settings: Settings, clock: Clock) -> int:
    progress = stderr_progress("purge")
    report = purge(engine, settings.retention_policy(), clock.now(), progress=progress)
    for name, rows in sorted(report.rows.items()):
        print(f"{name}: {rows}")
    print(f"purged {report.total} row(s){'' if report.complete else '; more due, run again'}")
    return 0


def _export(engine: Engine, args: argparse.Namespace, clock: Clock) -> int:
    if not guard_data_exists(engine, args.guard_id):
        print(f"no data about guard {args.guard_id!r}", file=sys.stderr)
        return 1
    with ExitStack() as stack:
        out: TextIO = (
            stack.enter_context(args.output.open("w", encoding="utf-8"))
            if args.output is not None
            else sys.stdout
        )
        records = audited_export(engine, cli_actor(), args.guard_id, clock.now())
        lines = sum(out.write(line) > 0 for line in records)
    if args.output is not None:
        print(f"{args.output}: {lines} record(s) of guard {args.guard_id!r}")
    return 0


def _erase(engine: Engine, args: argparse.Namespace, clock: Clock) -> int:
    if not args.yes:
        print("erasure cannot be undone: add --yes to confirm", file=sys.stderr)
        return 2
    try:
        report = audited_erasure(engine, cli_actor(), args.guard_id, clock.now())
    except ErasureRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    for table, rows in sorted(report.rows.items()):
        print(f"{table}: {rows}")
    print(f"erased {report.total} row(s) of guard {args.guard_id!r}")
    return 0
