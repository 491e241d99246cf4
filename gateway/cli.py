"""The ``guard-gateway`` command line.

Sub-commands import what they need when they run, so ``guard-gateway --help`` stays fast and a
missing optional part only affects the command that uses it.
"""

from __future__ import annotations

import argparse
import logging
import os
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
    run.add_argument(
        "--partitions",
        type=int,
        default=None,
        metavar="N",
        help="partitions of the guards (overrides GATEWAY_PARTITIONS; docs/scaling.md)",
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

    demo = sub.add_parser("demo", help="run the demo: sample Wuhan site, thirteen simulated guards")
    demo.add_argument("--rate", type=float, default=120.0, help="clock speed-up (default 120x)")
    demo.add_argument("--minutes", type=float, default=110.0, help="simulated minutes to run")
    demo.add_argument("--broker", default=None, help="mqtt:// URL of a broker to use")
    demo.add_argument("--data-dir", type=Path, default=Path("demo-data"))

    bench = sub.add_parser(
        "bench",
        help="measure throughput, latency and lateness; prints JSON (--list: the scenarios)",
    )
    bench.add_argument(
        "--scenario", default=None, help="run this scenario (default: the flood as always)"
    )
    bench.add_argument("--list", action="store_true", help="name and describe the scenarios")
    bench.add_argument("--terminals", type=int, default=1000)
    bench.add_argument(
        "--messages", type=int, default=None, help="fixes (flood: 60,000; posts: 20,000)"
    )
    bench.add_argument(
        "--database-url",
        "--database",
        dest="database_url",
        default=None,
        help="an empty database (default: a temporary SQLite file)",
    )
    bench.add_argument(
        "--processes",
        type=int,
        default=1,
        help="flood, shift-change: gateway processes (1, 2, 4; shift-change: all absent)",
    )
    bench.add_argument("--guards", type=int, default=None, help="guards on duty")
    bench.add_argument(
        "--seconds", type=float, default=None, help="steady: gateway-clock seconds of load"
    )
    bench.add_argument(
        "--compression", type=float, default=1.0, help="steady: gateway seconds per wall second"
    )
    bench.add_argument(
        "--posts", type=_int_list, default=None, help="posts: post counts, e.g. 100,10000"
    )
    bench.add_argument(
        "--days", type=_int_list, default=None, help="history: days of closed shifts, e.g. 1,365"
    )
    bench.add_argument(
        "--workers", type=_int_list, default=None, help="delivery: worker counts, e.g. 1,2"
    )
    bench.add_argument("--events", type=int, default=None, help="delivery: outbox rows")
    bench.add_argument(
        "--absent-every",
        type=int,
        default=None,
        help="shift-change: every N-th guard absent (default 10; 1: all)",
    )
    bench.add_argument(
        "--silent-too",
        action="store_true",
        help="shift-change: each absent guard's silence falls with his absence",
    )
    bench.add_argument("--broker", default=None, help="default: a private broker started here")
    bench.add_argument(
        "--inflight",
        type=int,
        default=None,
        help="the private broker's max_inflight_messages (default: its configured window)",
    )

    data = sub.add_parser("data", help="personal data: retention purge, one guard's export/erasure")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    data_sub.add_parser("purge", help="purge now what the retention settings no longer allow")
    export = data_sub.add_parser("export", help="one guard's data as JSON lines")
    export.add_argument("guard_id")
    export.add_argument("-o", "--output", type=Path, default=None, help="file (default: stdout)")
    erase = data_sub.add_parser("erase", help="erase one guard's data (after his roster removal)")
    erase.add_argument("guard_id")
    erase.add_argument("--yes", action="store_true", help="confirm: erasure cannot be undone")

    token = sub.add_parser("token", help="API tokens: create (printed once), list, revoke")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_sub.add_parser("create", help="issue a token and print it (only this once)")
    create.add_argument("--name", required=True, help="who or what holds it")
    create.add_argument("--role", required=True, choices=["admin", "leader", "integration"])
    create.add_argument(
        "--site", action="append", default=[], help="a leader's site (repeat for several)"
    )
    create.add_argument(
        "--team", action="append", default=[], help="a leader's team (default: every team)"
    )
    token_sub.add_parser("list", help="every token: id, name, role, scope, created, revoked")
    revoke = token_sub.add_parser("revoke", help="revoke a token from now on")
    revoke.add_argument("id")

    audit = sub.add_parser("audit", help="the audit log of actions taken through the API")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    audit_list = audit_sub.add_parser("list", help="newest first, one JSON object a line")
    audit_list.add_argument("--token", default=None, help="only this token id")
    audit_list.add_argument("--guard", default=None, help="only actions on this guard")
    audit_list.add_argument("--limit", type=int, default=100)

    alerts = sub.add_parser(
        "alerts", help="alerts: list, acknowledge, resolve by hand (safe while the gateway runs)"
    )
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    alerts_list = alerts_sub.add_parser("list", help="newest first, one JSON object a line")
    alerts_list.add_argument("--status", choices=["open", "acknowledged", "resolved"])
    alerts_list.add_argument("--guard", default=None, help="only this guard's alerts")
    alerts_list.add_argument("--limit", type=int, default=100)
    alerts_ack = alerts_sub.add_parser("ack", help="acknowledge an alert (its number or key)")
    alerts_ack.add_argument("id")
    alerts_ack.add_argument("--by", required=True, help="the leader's id")
    alerts_ack.add_argument("--note", default=None)
    alerts_resolve = alerts_sub.add_parser("resolve", help="resolve an alert by hand, with a note")
    alerts_resolve.add_argument("id")
    alerts_resolve.add_argument("--note", required=True, help="why it is closed")
    alerts_resolve.add_argument("--by", default=None, help="the leader's id (default: you)")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations up to the newest")

    broker = sub.add_parser(
        "broker-config",
        help="write broker accounts and ACLs (mosquitto, EMQX) for the site file's GPS terminals",
    )
    broker.add_argument("site", type=Path, help="the site file")
    broker.add_argument("--out", type=Path, required=True, help="directory to write into")
    broker.add_argument(
        "--prefix", default="devices", help="device topic prefix, as GATEWAY_MQTT_TOPIC_PREFIX"
    )
    broker.add_argument("--gateway-user", default="guard-gateway")
    broker.add_argument(
        "--partitions",
        type=int,
        default=1,
        metavar="N",
        help="also an account per partition client <gateway-user>-pNN (as GATEWAY_PARTITIONS)",
    )
    broker.add_argument(
        "--gateway-secret", default=None, help="env:NAME or file:/path holding its password"
    )
    broker.add_argument(
        "--generate",
        action="store_true",
        help="make passwords for accounts without a secret (written to generated-passwords.txt)",
    )

    quarantine = sub.add_parser("quarantine", help="inputs that failed on their own, kept")
    q_sub = quarantine.add_subparsers(dest="quarantine_command", required=True, metavar="ACTION")
    q_list = q_sub.add_parser("list", help="the quarantined inputs, newest first")
    q_list.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    q_list.add_argument("--json", action="store_true", help="one JSON object per line")

    from gateway.ledger.cli import add_ledger_parser
    from gateway.outbox.cli import add_outbox_parser

    add_ledger_parser(sub)
    add_outbox_parser(sub)
    return parser


def _int_list(text: str) -> list[int]:
    """``"1,365"`` → ``[1, 365]`` (positive integers)."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"give positive integers: {text!r}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "broker-config":
        from gateway.broker_config import cmd_broker_config

        return cmd_broker_config(args)
    from gateway import commands
    from gateway.errors import ConfigError

    handler = getattr(commands, f"cmd_{args.command}")
    try:
        result: int = handler(args)
    except ConfigError as exc:  # a bad setting (gateway.settings.load_settings): no traceback
        print(f"guard-gateway: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (``data export ... | head``): what it wanted was written. Python
        # would report the pipe again when flushing stdout at exit, so stdout goes to devnull.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # as a shell reports a command ended by SIGPIPE
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
