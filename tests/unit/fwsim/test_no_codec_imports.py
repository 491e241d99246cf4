"""The simulators share no code with the codecs they exercise: no module of ``fwsim`` that
produces device traffic imports from ``drivers`` (the golden captures stay the only common
truth). ``fwsim.scenario.check`` is the bench that runs a gateway, not a producer: it borrows
the broker launcher, nothing that encodes or decodes."""

from __future__ import annotations

import ast
from pathlib import Path

FWSIM = Path(__file__).resolve().parents[3] / "firmware-sim" / "fwsim"
BENCH = {FWSIM / "scenario" / "check.py": {"drivers.mqtt.broker"}}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_simulator_module_imports_the_drivers() -> None:
    offenders = {}
    for path in sorted(FWSIM.rglob("*.py")):
        found = {n for n in _imports(path) if n == "drivers" or n.startswith("drivers.")}
        found -= BENCH.get(path, set())
        if found:
            offenders[str(path.relative_to(FWSIM))] = sorted(found)
    assert offenders == {}
    assert _imports(FWSIM / "scenario" / "check.py") >= {"drivers.mqtt.broker"}
