"""The ``fwsim field`` command: open simulated readers and terminals, then play their timeline.

``fwsim field --scenario FILE --api http://127.0.0.1:8808 [--rate 60] [--delay 10]``

The readers appear as pseudo-terminals and the binary terminals as TCP ports; their addresses
are printed first, so a test bench can put them in its site file (and load it) during
``--delay`` seconds before the timeline starts.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from fwsim.scenario.field import FieldRunner, load_field_scenario
from fwsim.scenario.model import ScenarioError
from gateway.clock import AcceleratedClock, SystemClock

__all__ = ["add_field_command", "run_field"]


def run_field(scenario_path: Path, api_url: str | None, rate: float, delay_s: float) -> int:
    """Open the scenario's devices, print their URLs, wait ``delay_s`` wall seconds, play the
    timeline at ``rate`` x real time; exit code 0 done, 1 interrupted, 2 bad scenario/error."""
    try:
        scenario = load_field_scenario(scenario_path)
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 2
    if rate <= 0:
        print("--rate must be positive", file=sys.stderr)
        return 2
    clock = AcceleratedClock(SystemClock().now(), rate)
    runner = FieldRunner(scenario, clock, api_url=api_url)
    code = 0
    try:
        runner.open()
        for reader in scenario.readers:
            print(f"reader {reader.id}: {runner.reader_url(reader.id)}", flush=True)
        for terminal in scenario.terminals:
            if terminal.kind == "zkteco_binary":
                print(f"terminal {terminal.id}: {runner.terminal_url(terminal.id)}", flush=True)
        threading.Event().wait(delay_s)
        runner.start()
        while not runner.wait(1.0):
            pass
    except KeyboardInterrupt:
        code = 1
    except Exception as exc:  # a bench operator needs the reason, not a traceback
        print(f"fwsim field: {exc}", file=sys.stderr)
        code = 2
    finally:
        runner.stop()
    if runner.error is not None:
        print(f"fwsim field: stopped on an error: {runner.error}", file=sys.stderr)
        code = 2
    for device_id, stats in runner.stats().items():
        print(f"{device_id}: {stats}", file=sys.stderr)
    return code


def _handler(args: argparse.Namespace) -> int:
    return run_field(args.scenario, args.api, args.rate, args.delay)


def add_field_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``field`` on an ``add_subparsers()`` object (sets the ``handler`` default)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "field", help="simulated checkpoint readers and clock-in terminals playing a scenario"
    )
    parser.add_argument("--scenario", required=True, type=Path, help="scenario YAML file")
    parser.add_argument("--api", default=None, help="the gateway's API URL (PUSH terminals)")
    parser.add_argument("--rate", type=float, default=1.0, help="clock speed-up (default 1x)")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="wall seconds to wait after printing URLs"
    )
    parser.set_defaults(handler=_handler)
    return parser
