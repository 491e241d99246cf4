"""``fwsim``: run simulated devices, the management-core stub and the group-robot stub.

Each subcommand is a function that adds its parser to the sub-parsers and sets ``handler``;
register it in :data:`COMMANDS`. A handler takes the parsed arguments and returns an exit status.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from fwsim.scenario import add_gps_command
from fwsim.scenario.check_command import add_check_command
from fwsim.scenario.field_command import add_field_command
from fwsim.zkteco.command import add_zk_terminal_command

__all__ = ["COMMANDS", "build_parser", "main"]

SubParsers = Any  # argparse's _SubParsersAction is private; its type is not worth importing
Handler = Callable[[argparse.Namespace], int]


def _add_core_stub(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "core-stub",
        help="run a management-core stub that records and verifies the events it receives",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument(
        "--secret",
        default=os.environ.get("GATEWAY_CORE_SECRET", "change-me"),
        help="HMAC-SHA256 key the gateway signs with (default: $GATEWAY_CORE_SECRET)",
    )
    parser.set_defaults(handler=_run_core_stub)


def _run_core_stub(args: argparse.Namespace) -> int:
    from fwsim.core_stub import CoreStub

    stub = CoreStub(args.secret, host=args.host, port=args.port)
    url = stub.start()
    print(
        f"core stub listening: POST events to {url}; control at {stub.base_url}/_stub/", flush=True
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()
    return 0


def _add_robot_stub(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "robot-stub",
        help="run a WeCom/DingTalk group-robot stub that checks requests and prints each message",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument(
        "--wecom",
        action="append",
        default=[],
        metavar="KEY[=NAME]",
        help="a WeCom robot by its webhook key (repeatable)",
    )
    parser.add_argument(
        "--dingtalk",
        action="append",
        default=[],
        metavar="TOKEN[:SECRET][=NAME]",
        help="a DingTalk robot by its access token, with its signing secret if signed",
    )
    parser.add_argument(
        "--limit", type=int, default=20, help="messages a robot accepts per minute (default 20)"
    )
    parser.set_defaults(handler=_run_robot_stub)


def _run_robot_stub(args: argparse.Namespace) -> int:
    from fwsim.robot_stub import ReceivedMessage, RobotStub

    def show(message: ReceivedMessage) -> None:
        lines = message.plain_lines()
        print(f"[{message.label}] {lines[0] if lines else ''}", flush=True)
        for line in lines[1:]:
            print(f"    {line}", flush=True)

    if not args.wecom and not args.dingtalk:
        print("robot-stub: give at least one --wecom or --dingtalk robot", file=sys.stderr)
        return 2
    stub = RobotStub(host=args.host, port=args.port, limit_per_min=args.limit, on_message=show)
    for spec in args.wecom:
        key, _, name = spec.partition("=")
        stub.add_wecom(key, name or key)
    for spec in args.dingtalk:
        token_secret, _, name = spec.partition("=")
        token, _, secret = token_secret.partition(":")
        stub.add_dingtalk(token, name or token, secret or None)
    base = stub.start()
    print(
        f"robot stub listening: WeCom {stub.wecom_url}, DingTalk {stub.dingtalk_url}; "
        f"control at {base}/_stub/",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()
    return 0


#: Every subcommand's registration function, in the order shown by ``--help``.
COMMANDS: list[Callable[[SubParsers], object]] = [
    _add_core_stub,
    _add_robot_stub,
    add_gps_command,
    add_field_command,
    add_zk_terminal_command,
    add_check_command,
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="fwsim", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fwsim`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
