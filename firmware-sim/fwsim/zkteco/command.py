"""``fwsim zk-terminal``: a simulated ZKTeco binary terminal (TCP or UDP) that an integrator points
his own software (pyzk, the gateway) at before the hardware arrives.

The terminal's users and log come from ``--data FILE`` (YAML)::

    users:
      - {uid: 1, user_id: "1001", name: 李明, card: 4571234}
      - {uid: 7, user_id: "1003", name: Admin, privilege: 14, password: "1234"}
    records:
      - {pin: "1001", at: "2026-03-02 07:58:12", punch: 0, verify: 1}

Once it listens it prints one line with its address, then reads commands on standard input, one
a line: ``punch PIN [STATE [VERIFY [YYYY-MM-DDTHH:MM:SS]]]`` (a person punches: the record joins
the log and goes live to registered clients; without a time, this machine's local time, which
becomes the terminal's clock reading too) and ``quit``. At the end of the input it keeps
serving until interrupted.
"""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from fwsim.zkteco.binary_terminal import BinaryTerminal, LogRecord, User

__all__ = ["add_zk_terminal_command", "load_data"]


def load_data(path: Path) -> tuple[list[User], list[LogRecord]]:
    """Users and records from a ``--data`` file; a ``ValueError`` names what is wrong."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping with 'users' and 'records'")
    try:
        users = [
            User(
                uid=int(u["uid"]),
                user_id=str(u["user_id"]),
                name=str(u.get("name", "")),
                card=int(u.get("card", 0)),
                privilege=int(u.get("privilege", 0)),
                password=str(u.get("password", "")),
                group=int(u.get("group", 1)),
            )
            for u in document.get("users") or []
        ]
        records = [
            LogRecord(
                pin=str(r["pin"]),
                at=_time(r["at"]),
                punch=int(r.get("punch", 0)),
                verify=int(r.get("verify", 1)),
            )
            for r in document.get("records") or []
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc!r}") from exc
    return users, records


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.fromisoformat(str(value))


def _local_now() -> datetime:
    return datetime.now().astimezone().replace(tzinfo=None)


def add_zk_terminal_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``zk-terminal`` on an ``add_subparsers()`` object (sets ``handler``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "zk-terminal", help="a simulated ZKTeco binary-protocol terminal (TCP/UDP 4370)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=4370, help="port (0 picks a free one)")
    parser.add_argument("--transport", choices=("tcp", "udp"), default="tcp")
    parser.add_argument("--data", type=Path, help="YAML file with the users and the log")
    parser.add_argument("--comm-key", type=int, default=0, help="communication password")
    parser.add_argument("--serial", default="CKJF203760512", help="~SerialNumber")
    parser.add_argument("--device-name", default="K40", help="~DeviceName")
    parser.add_argument("--firmware", default="Ver 6.60 Sep 23 2015", help="CMD_GET_VERSION")
    parser.add_argument(
        "--user-size", type=int, choices=(72, 28), default=72, help="user-table entry layout"
    )
    parser.add_argument(
        "--record-size", type=int, choices=(40, 16, 8), default=40, help="log record layout"
    )
    parser.set_defaults(handler=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    try:
        users, records = load_data(args.data) if args.data else ([], [])
        terminal = BinaryTerminal(
            users=users,
            records=records,
            host=args.host,
            port=args.port,
            transport=args.transport,
            password=args.comm_key,
            serial_number=args.serial,
            device_name=args.device_name,
            firmware=args.firmware,
            user_record_size=args.user_size,
            record_size=args.record_size,
            now=_local_now(),
        )
    except (OSError, ValueError) as exc:
        print(f"zk-terminal: {exc}", file=sys.stderr)
        return 2
    with terminal:
        print(
            f"ZKTeco terminal {args.serial} listening on {terminal.transport}://"
            f"{terminal.host}:{terminal.port} ({len(terminal.users)} users, "
            f"{len(terminal.records)} records)",
            flush=True,
        )
        try:
            if not _read_commands(terminal):
                return 0
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


def _read_commands(terminal: BinaryTerminal) -> bool:
    """Play standard input's commands; ``False`` once told to quit."""
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            return False
        if words[0] != "punch" or not 2 <= len(words) <= 5:
            print(f"zk-terminal: not understood: {line.strip()!r}", file=sys.stderr, flush=True)
            continue
        try:
            state = int(words[2]) if len(words) > 2 else 0
            verify = int(words[3]) if len(words) > 3 else 1
            at = datetime.fromisoformat(words[4]) if len(words) > 4 else _local_now()
        except ValueError as exc:
            print(f"zk-terminal: {exc}", file=sys.stderr, flush=True)
            continue
        terminal.now = at
        terminal.punch(words[1], state, verify, at)
        print(f"punched {words[1]} at {at:%Y-%m-%d %H:%M:%S}", flush=True)
    return True
