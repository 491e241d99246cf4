"""``guard-gateway run`` as a process of its own, as ``fwsim check`` plays a site day against it.

Configured by environment like a deployment (``GATEWAY_*``); its clock comes from
``GATEWAY_TEST_CLOCK`` (``gateway.clock.clock_from_env``), so it shares the scenario's
accelerated clock. Killed with SIGKILL or stopped with SIGTERM by its pid; its output goes to a
log file, which a failed start quotes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["GatewayProcess", "GatewayStartError", "gateway_command"]

_SERVING = "guard-gateway: API on"


class GatewayStartError(RuntimeError):
    """The gateway exited, or did not serve its API in time; the message quotes its log."""


def gateway_command() -> list[str]:
    """The ``guard-gateway`` entry point beside this interpreter (the same installation)."""
    beside = Path(sys.executable).with_name("guard-gateway")
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-m", "gateway.cli"]


class GatewayProcess:
    """One ``guard-gateway run`` process; ``log`` collects its output (appended across runs)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._offset = log.stat().st_size if log.exists() else 0
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*gateway_command(), "run"],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def _output(self) -> str:
        with self.log.open("rb") as f:
            f.seek(self._offset)
            return f.read().decode("utf-8", errors="replace")

    def wait_serving(self, timeout_s: float = 60.0) -> None:
        """Block until the API is served; ``GatewayStartError`` when it exits or times out."""
        deadline = time.monotonic() + timeout_s
        while _SERVING not in self._output():
            if self.process.poll() is not None:
                raise GatewayStartError(f"the gateway exited:\n{self._output()[-2000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise GatewayStartError(f"the gateway did not start:\n{self._output()[-2000:]}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: nothing is flushed or closed, as a power cut or the OOM killer does."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout_s``); the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode
