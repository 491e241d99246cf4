"""Handlers of the ``guard-gateway`` sub-commands (``cmd_<name>(args) -> exit code``)."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from gateway.clock import CLOCK_ENV, Clock, SystemClock, clock_from_env
from gateway.errors import ConfigError
from gateway.settings import Settings, load_settings

__all__ = [
    "cmd_alerts",
    "cmd_audit",
    "cmd_bench",
    "cmd_data",
    "cmd_db",
    "cmd_decode",
    "cmd_demo",
    "cmd_ledger",
    "cmd_quarantine",
    "cmd_run",
    "cmd_site",
    "cmd_token",
]


def cmd_run(args: argparse.Namespace) -> int:
    """Run the service until SIGINT/SIGTERM: ingest, rules, delivery and the API."""
    from gateway.bootstrap import ApiServer, build_gateway

    try:
        overrides = {} if args.partitions is None else {"partitions": args.partitions}
        settings = load_settings(**overrides)
        settings.refuse_default_secrets()
    except (ValueError, ConfigError) as exc:  # pydantic's ValidationError is a ValueError
        print(f"guard-gateway: {exc}", file=sys.stderr)
        return 2
    if (code := _refuse_stale_schema(settings)) != 0:  # before a site load could migrate it
        return code
    if (clock := _configured_clock()) is None:
        return 2
    try:  # before anything starts: a port taken is said now, not after a site load and start
        api_sock = _listen(settings.api_host, settings.api_port, "API", "API")
        iclock_sock = None
        if settings.iclock_port is not None:
            iclock_sock = _listen(
                settings.iclock_host, settings.iclock_port, "ICLOCK", "ZKTeco PUSH"
            )
    except ConfigError as exc:
        print(f"guard-gateway: {exc}", file=sys.stderr)
        return 2
    for path in args.site:
        if (code := _load_site(path, settings, clock)) != 0:
            return code
    try:
        gateway = build_gateway(settings, clock, upgrade_schema=False)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    api = ApiServer(gateway.app, settings.api_host, sock=api_sock)
    iclock = None
    if gateway.iclock_app is not None and iclock_sock is not None:
        iclock = ApiServer(gateway.iclock_app, settings.iclock_host, sock=iclock_sock)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        gateway.start()
    except ConfigError as exc:  # a partitioned node refused to join (docs/scaling.md)
        print(f"guard-gateway: {exc}", file=sys.stderr)
        gateway.stop()
        return 1
    served = f"API on {api.start()}"
    if iclock is not None:
        served += f", ZKTeco PUSH on {iclock.start()}"
    if gateway.cluster is not None:
        served += (
            f", node {gateway.cluster.node_id} holding partitions {gateway.cluster.held()} "
            f"of {settings.partitions}"
        )
    print(f"guard-gateway: {served}, broker {settings.mqtt_url}", flush=True)
    try:
        stop.wait()
    finally:
        if iclock is not None:
            iclock.stop()
        api.stop()
        gateway.stop()
    return 0


def _listen(host: str, port: int, setting: str, what: str) -> socket.socket:
    """The listening socket ``run`` serves ``what`` on; ``ConfigError`` naming the settings
    when the port is taken (a gateway already running?) or the address is not this host's."""
    from gateway.api.server import listening_socket

    try:
        return listening_socket(host, port)
    except OSError as exc:
        taken = "; another program holds it (a gateway already running?)"
        raise ConfigError(
            f"cannot serve the {what} on {host}:{port} (GATEWAY_{setting}_HOST, "
            f"GATEWAY_{setting}_PORT): {exc.strerror or exc}"
            + (taken if exc.errno == errno.EADDRINUSE else "")
        ) from None


def _refuse_stale_schema(settings: Settings) -> int:
    """1 with the reason on stderr when the database is unreachable or behind (then
    ``guard-gateway db upgrade`` fixes it), else 0."""
    from gateway.db.engine import make_engine
    from gateway.ops.readiness import require_current_schema

    engine = make_engine(settings.database_url)
    try:
        require_current_schema(engine)
    except ConfigError as exc:
        print(f"guard-gateway: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """``token create|list|revoke``: the API's tokens (``gateway.api.admin``)."""
    from gateway.api.admin import run_token_command

    return run_token_command(args, load_settings(), SystemClock(), sys.stdout, sys.stderr)


def cmd_alerts(args: argparse.Namespace) -> int:
    """``alerts list|ack|resolve``: the alert commands of the API (``gateway.api.alerts_cli``)."""
    from gateway.api.alerts_cli import run_alerts_command

    return run_alerts_command(args, load_settings(), SystemClock(), sys.stdout, sys.stderr)


def cmd_audit(args: argparse.Namespace) -> int:
    """``audit list``: who did what through the API (``gateway.api.admin``)."""
    from gateway.api.admin import run_audit_command

    return run_audit_command(args, load_settings(), sys.stdout)


def _configured_clock() -> Clock | None:
    """The clock ``run`` keeps: wall time, or a test bench's (``GATEWAY_TEST_CLOCK``, said
    loudly); ``None``, after saying why, for a malformed value. A site load dates itself by it
    too: the instant a shift is cut short or becomes known must be the rules' instant."""
    try:  # a test bench (fwsim check) may run the gateway on its own accelerated clock
        clock = clock_from_env(os.environ.get(CLOCK_ENV))
    except ValueError as exc:
        print(f"guard-gateway: {exc}", file=sys.stderr)
        return None
    if not isinstance(clock, SystemClock):  # left set on a real gateway, it misdates everything
        print(
            f"guard-gateway: on a test bench clock ({CLOCK_ENV}), not wall time: "
            f"now {clock.now().isoformat()}, {clock.rate:g}x",
            file=sys.stderr,
        )
    return clock


def cmd_site(args: argparse.Namespace) -> int:
    """``site load FILE`` stores a site file; ``site check FILE`` only validates it. Both
    date themselves by ``run``'s clock (``_configured_clock``)."""
    if (clock := _configured_clock()) is None:
        return 2
    if args.site_command == "check":
        from gateway.site.loader import read_site_file, validate_site_file
        from gateway.site.notices import site_notices

        secrets = _secret_names(load_settings())  # a bad setting is exit 2, not a bad file
        try:
            checked = validate_site_file(args.file, clock.now(), secrets)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"{args.file}: valid ({len(checked)} site(s))")
        _tell_notices(args.file, site_notices(read_site_file(args.file)[0]))
        return 0
    return _load_site(args.file, load_settings(), clock)


def _load_site(path: Path, settings: Settings, clock: Clock) -> int:
    from gateway.db.engine import make_engine
    from gateway.db.schema import create_schema
    from gateway.ops.progress import stderr_progress
    from gateway.site.loader import load_site_file

    engine = make_engine(settings.database_url)
    try:
        create_schema(engine)
        summary = load_site_file(
            path,
            engine,
            clock.now(),
            _secret_names(settings),
            progress=stderr_progress(f"site load {path}"),
        )
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(
        f"{path}: stored site(s) {', '.join(summary.site_ids)}: {summary.posts} posts, "
        f"{summary.guards} guards, {summary.leaders} leaders, {summary.devices} devices, "
        f"{summary.shifts} shifts, {summary.robots} group robots"
    )
    _tell_notices(path, summary.notices)
    return 0


def _tell_notices(path: Path, notices: Sequence[str]) -> None:
    """Print what the site file allows but the gateway cannot watch (``gateway.site.notices``):
    the file is valid and stored all the same."""
    for notice in notices:
        print(f"{path}: notice: {notice}", file=sys.stderr)


def _secret_names(settings: Settings) -> set[str]:
    """The robot secrets that are set (an empty value counts as missing)."""
    return {name for name, value in settings.robot_secrets.items() if value.get_secret_value()}


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode payloads from FILE or stdin: fixes as JSON lines on stdout, rejects on stderr."""
    from drivers.gps.decode_cli import run_decode

    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"guard-gateway: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return run_decode(
        args.format, data, SystemClock().now(), sys.stdout, sys.stderr, device_id=args.device
    )


def cmd_db(args: argparse.Namespace) -> int:
    """``db upgrade``: apply the migrations to the configured database."""
    from gateway.db.engine import make_engine
    from gateway.db.migrate import current, upgrade

    engine = make_engine(load_settings().database_url)
    try:
        upgrade(engine)
        print(f"database at revision {current(engine)}")
    finally:
        engine.dispose()
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    """``data purge``, ``data export GUARD``, ``data erase GUARD --yes`` (``gateway.privacy``)."""
    from gateway.privacy.cli import run_data_command

    return run_data_command(args, load_settings(), SystemClock())


def cmd_ledger(args: argparse.Namespace) -> int:
    """``ledger DAY [--to DAY] [--site S] --out DIR``: the daily ledger written to files."""
    from gateway.ledger.cli import run_ledger_command

    settings = load_settings()
    _bring_schema_up(settings)
    return run_ledger_command(args, settings, SystemClock(), sys.stdout, sys.stderr)


def _bring_schema_up(settings: Settings) -> None:
    """Create or upgrade the configured database's schema, as every command that reads or
    writes the database does but ``run`` (docs/operations.md): a new or older database is then
    read as what it holds, not answered with a missing table's traceback."""
    from gateway.db.engine import make_engine
    from gateway.db.schema import create_schema

    engine = make_engine(settings.database_url)
    try:
        create_schema(engine)
    finally:
        engine.dispose()


def cmd_outbox(args: argparse.Namespace) -> int:
    """``outbox refused``, ``outbox retry --type T|--event ID|--all``: the events the core
    refused for their content (``gateway.outbox.cli``)."""
    from gateway.outbox.cli import run_outbox_command

    return run_outbox_command(args, load_settings(), sys.stdout)


def cmd_quarantine(args: argparse.Namespace) -> int:
    """``quarantine list``: the inputs that failed on their own, newest first."""
    from gateway.db.engine import make_engine
    from gateway.db.quarantine import print_quarantined
    from gateway.db.schema import create_schema

    engine = make_engine(load_settings().database_url)
    try:
        create_schema(engine)
        print_quarantined(engine, sys.stdout, limit=args.limit, as_json=args.json)
    finally:
        engine.dispose()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The demo: sample Wuhan site, thirteen simulated guards, an accelerated clock."""
    from gateway.demo.run import run_demo

    return run_demo(
        rate=args.rate, minutes=args.minutes, broker=args.broker, data_dir=args.data_dir
    )


def cmd_bench(args: argparse.Namespace) -> int:
    """``bench``: the flood (end-to-end throughput against a bare subscriber) as JSON;
    ``bench --scenario NAME`` one of ``gateway.bench.scenarios``; ``bench --list`` names them."""
    from gateway.bench.scenarios import print_list, run_scenario

    if args.list:
        print_list(sys.stdout)
        return 0
    if args.scenario is not None:
        return run_scenario(args.scenario, args)
    from gateway.bench.e2e import run_bench

    return run_bench(
        terminals=args.terminals,
        messages=args.messages or 60000,
        database_url=args.database_url,
        broker=args.broker,
        inflight=args.inflight,
    )
