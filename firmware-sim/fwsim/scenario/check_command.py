"""The ``fwsim check`` command: play a site-day scenario against a gateway, print the verdict.

``fwsim check SCENARIO.yaml [--rate 120] [--workdir DIR]``

Prints the actions as played, the pass/fail table of expected vs delivered events (unexpected
alerts listed as failures, other unexpected events listed for information) and exits 0 only
when every expectation passed, no unexpected alert came and every action succeeded; 1 when the
check failed, 2 when the scenario is invalid or the rig could not start.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from fwsim.scenario.day_spec import load_day_scenario
from fwsim.scenario.expect import render_table
from fwsim.scenario.model import ScenarioError

__all__ = ["add_check_command", "run_check_command"]


def run_check_command(path: Path, rate: float | None = None, workdir: Path | None = None) -> int:
    """Check one scenario file; the exit code (module docstring)."""
    from fwsim.scenario.check import run_check
    from fwsim.scenario.gateway_process import GatewayStartError

    try:
        scenario = load_day_scenario(path)
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 2
    if rate is not None and rate <= 0:
        print("--rate must be positive", file=sys.stderr)
        return 2
    zone = scenario.zone
    print(
        f"{scenario.name}: {scenario.start.astimezone(zone):%Y-%m-%d %H:%M:%S} to "
        f"{scenario.end.astimezone(zone):%H:%M:%S} {zone.key} at {rate or scenario.rate:g}x",
        flush=True,
    )
    try:
        result = run_check(scenario, rate=rate, workdir=workdir)
    except (GatewayStartError, OSError) as exc:
        print(f"fwsim check: {exc}", file=sys.stderr)
        return 2
    for line in result.actions:
        print(f"  {line}")
    print(render_table(result.verdicts, zone))
    for failure in result.failures:
        print(f"FAIL  {failure}")
    passed = sum(1 for v in result.verdicts if v.expectation is not None and v.passed)
    total = sum(1 for v in result.verdicts if v.expectation is not None)
    verdict = "PASS" if result.passed else "FAIL"
    where = f" (logs and database in {result.workdir})" if result.workdir else ""
    print(f"{verdict}: {passed}/{total} expectations, {len(result.events)} events{where}")
    return 0 if result.passed else 1


def _handler(args: argparse.Namespace) -> int:
    if not getattr(args, "verbose", False):  # the table is the output; the rig's logs on -v
        logging.getLogger().setLevel(logging.WARNING)
    return run_check_command(args.scenario, args.rate, args.workdir)


def add_check_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``check`` on an ``add_subparsers()`` object (``handler`` default set)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check", help="play a site-day scenario against a gateway and judge its events"
    )
    parser.add_argument("scenario", type=Path, help="site-day scenario YAML file")
    parser.add_argument("--rate", type=float, default=None, help="clock speed-up (default: file's)")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the database and logs here"
    )
    parser.set_defaults(handler=_handler)
    return parser
