"""The ``fwsim gps`` command: play a scenario file to a broker on an accelerated clock.

``fwsim gps --scenario FILE --broker mqtt://127.0.0.1:1883 --rate 60 [--seed N]``
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from fwsim.scenario.loader import load_scenario
from fwsim.scenario.model import ScenarioError
from fwsim.scenario.runner import RunnerError, ScenarioRunner
from gateway.clock import AcceleratedClock, SystemClock

__all__ = ["add_gps_command", "run_gps"]

log = logging.getLogger(__name__)


def run_gps(
    scenario_path: str | Path, broker_url: str, rate: float = 1.0, seed: int | None = None
) -> int:
    """Play ``scenario_path`` to ``broker_url`` at ``rate`` x real time, starting now; block
    until it is done (or Ctrl-C) and return a process exit code (0 done, 1 interrupted,
    2 bad scenario or broker). Per-terminal counts are printed on standard error."""
    try:
        scenario = load_scenario(scenario_path)
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 2
    if rate <= 0:
        print("--rate must be positive", file=sys.stderr)
        return 2
    clock = AcceleratedClock(SystemClock().now(), rate)
    try:
        runner = ScenarioRunner(scenario, broker_url, clock, seed=seed)
        runner.start()
    except (RunnerError, ValueError) as exc:
        print(f"fwsim gps: {exc}", file=sys.stderr)
        return 2
    span = (runner.end_time - runner.start_time).total_seconds()
    log.info(
        "%s: %d terminals, %d publications over %.0f s of scenario time (%.0f s wall)",
        scenario.name,
        len(scenario.terminals),
        len(runner.plan),
        span,
        span / rate,
    )
    code = 0
    try:
        while not runner.wait(1.0):
            pass
    except KeyboardInterrupt:
        code = 1
    finally:
        runner.stop()
    if runner.error is not None:
        print(f"fwsim gps: stopped on an error: {runner.error}", file=sys.stderr)
        code = 2
    for device_id, stats in runner.stats().items():
        logins = ""
        if stats.logins or stats.login_failures:
            logins = f", {stats.logins} log-ins"
            logins += f" ({stats.login_failures} failed)" if stats.login_failures else ""
        print(
            f"{device_id}: {stats.messages} messages, {stats.fixes} fixes{logins}", file=sys.stderr
        )
    return code


def _handler(args: argparse.Namespace) -> int:
    return run_gps(args.scenario, args.broker, args.rate, args.seed)


def add_gps_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gps`` on an ``add_subparsers()`` object. The parser's default ``handler`` is
    a callable taking the parsed namespace and returning the exit code."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "gps", help="play a GPS-terminal scenario (YAML) to an MQTT broker"
    )
    parser.add_argument("--scenario", required=True, type=Path, help="scenario YAML file")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt:// or mqtts:// URL")
    parser.add_argument("--rate", type=float, default=1.0, help="clock speed-up (default 1x)")
    parser.add_argument("--seed", type=int, default=None, help="re-roll every terminal's noise")
    parser.set_defaults(handler=_handler)
    return parser
