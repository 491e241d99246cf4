"""End to end: every shipped site-day scenario passes ``fwsim check``, run through its CLI.

Each check starts its own private broker, core stub, SQLite database and ``guard-gateway run``
process on the scenario's accelerated clock (``fwsim.scenario.check``), plays the day and judges
the delivered events against the file's expectations. One scenario changed to miss its verbal
report must fail, with the unexpected alert in the table, so a check that passes means
something.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from fwsim.cli import main

SCENARIOS = Path(__file__).resolve().parents[2] / "firmware-sim" / "scenarios"
SHIPPED = [
    "reported-departure",
    "unreported-departure",
    "leave-overrun",
    "leave-not-cancelled",
    "silent-terminal",
    "sos",
    "blind-area-batch",
    "two-devices",
    "gateway-restart",
    "patrol-missed-checkpoint",
    "late-clock-in",
    "single-guard-departure",
    "all-formats",
    "silent-and-sos",
    "clock-in-late",
    "patrol-skip-checkpoint",
    "patrol-wand",
]


CONCURRENT_CHECKS = 4
"""Checks played at once: each spends most of its wall time waiting on its scenario clock, so
four share two cores without making any late, and the seventeen take about a third of the time."""


@dataclass(frozen=True)
class CheckRun:
    code: int
    out: str


@pytest.fixture(scope="module")
def shipped_checks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CheckRun]:
    """Every shipped scenario checked by the ``fwsim check`` command, each in its own process."""
    fwsim = Path(sys.executable).with_name("fwsim")
    root = tmp_path_factory.mktemp("checks")

    def check(name: str) -> CheckRun:
        done = subprocess.run(
            [str(fwsim), "check", str(SCENARIOS / f"{name}.yaml"), "--workdir", str(root / name)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return CheckRun(done.returncode, done.stdout + done.stderr[-4000:])

    with ThreadPoolExecutor(CONCURRENT_CHECKS) as pool:
        return dict(zip(SHIPPED, pool.map(check, SHIPPED), strict=True))


@pytest.mark.timeout(900)  # the first one's set-up plays all seventeen checks (the fixture)
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_passes_fwsim_check(
    name: str, shipped_checks: dict[str, CheckRun]
) -> None:
    run = shipped_checks[name]
    assert run.code == 0, run.out
    verdicts = [line for line in run.out.splitlines() if line.startswith(("PASS: ", "FAIL: "))]
    assert verdicts and verdicts[-1].startswith("PASS: ") and "FAIL" not in run.out, run.out


def test_a_departure_whose_report_is_never_entered_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = yaml.safe_load((SCENARIOS / "reported-departure.yaml").read_text("utf-8"))
    doc["actions"] = []  # the leader forgets to enter the verbal report
    doc["site"] = str(SCENARIOS / doc["site"])
    path = tmp_path / "forgotten-report.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    code = main(["check", str(path), "--workdir", str(tmp_path / "work")])
    out = capsys.readouterr().out
    assert code == 1, out
    rows = [line.split() for line in out.splitlines()]
    assert [
        "FAIL",
        "alert.unreported_departure",
        "x0",
        "g-001",
        "08:11:00",
        "alert.unreported_departure",
        "g-001",
        "1",
        "delivered,",
        "0",
        "expected",
    ] in rows, out
    assert out.strip().splitlines()[-1].startswith("FAIL: 3/4 expectations")
