"""The ``guard-gateway`` command line.

Sub-commands import what they need when they run, so ``guard-gateway --help`` stays fast and a
missing optional part only affects the command that uses it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="guard-gateway",
        description="Field-device gateway: GPS terminals, patrol checkpoints and clock-in "
        "terminals to 'know where they are' events for the management core.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the gateway service (ingest, rules, delivery, API)")
    run.add_argument(
        "--site", type=Path, action="append", default=[], help="load this site file first"
    )

    site = sub.add_parser("site", help="site configuration")
    site_sub = site.add_subparsers(dest="site_command", required=True, metavar="ACTION")
    load = site_sub.add_parser("load", help="validate a site file and store it (all or nothing)")
    load.add_argument("file", type=Path)
    check = site_sub.add_parser("check", help="validate a site file without storing it")
    check.add_argument("file", type=Path)

    decode = sub.add_parser("decode", help="decode terminal payloads to JSON, one fix per line")
    decode.add_argument(
        "--format", required=True, choices=["json", "owntracks", "nmea", "jt808", "jt808-emqx"]
    )
    decode.add_argument("--device", default=None, help="device id when the payload has none")
    decode.add_argument("file", nargs="?", default="-", help="input file, or - for stdin")

    demo = sub.add_parser("demo", help="run the demo: sample Wuhan site, ten simulated guards")
    demo.add_argument("--rate", type=float, default=120.0, help="clock speed-up (default 120x)")
    demo.add_argument("--minutes", type=float, default=110.0, help="simulated minutes to run")
    demo.add_argument("--broker", default=None, help="mqtt:// URL of a broker to use")
    demo.add_argument("--data-dir", type=Path, default=Path("demo-data"))

    bench = sub.add_parser("bench", help="measure end-to-end throughput; prints JSON")
    bench.add_argument("--terminals", type=int, default=1000)
    bench.add_argument("--messages", type=int, default=60000)
    bench.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    bench.add_argument("--broker", default=None, help="default: a private broker started here")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations up to the newest")

    quarantine = sub.add_parser("quarantine", help="inputs that failed on their own, kept")
    q_sub = quarantine.add_subparsers(dest="quarantine_command", required=True, metavar="ACTION")
    q_list = q_sub.add_parser("list", help="the quarantined inputs, newest first")
    q_list.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    q_list.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from gateway import commands

    handler = getattr(commands, f"cmd_{args.command}")
    result: int = handler(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
