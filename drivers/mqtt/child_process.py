"""Starting and ending the ingest child process (``drivers.mqtt.ingest_child``).

``spawn_child`` starts the child with pipes on its standard input and output; it imports this
installation's packages, even from a checkout not installed, and logs at the gateway's level.
``wait_or_kill`` waits for a child asked to stop and kills one that does not end in time.
``restart_grace_s`` says how long a child's end waits for the gateway's own stop before it
counts as a crash: a running child ignores SIGTERM and SIGINT, so one ended by them got them
while it started, most likely sent to the whole process group with the gateway's own
(systemd's stop, Ctrl-C).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["GROUP_SIGNAL_GRACE_S", "restart_grace_s", "spawn_child", "wait_or_kill"]

logger = logging.getLogger(__name__)

GROUP_SIGNAL_GRACE_S = 2.0
"""How long a child ended by SIGTERM or SIGINT waits for the gateway's stop before it counts as
a crash."""
_GROUP_SIGNALS = (-signal.SIGTERM, -signal.SIGINT)


def spawn_child(command: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start ``command`` with pipes on its standard input and output; raises ``OSError`` when
    it cannot be started (no interpreter there, out of processes)."""
    env = dict(os.environ)
    # The child imports this installation's packages, even from a checkout not installed.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env["GATEWAY_INGEST_LOG_LEVEL"] = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)


def restart_grace_s(exit_code: int) -> float:
    """How long to wait for the gateway's stop before a child that ended with ``exit_code`` is
    a crash: ``GROUP_SIGNAL_GRACE_S`` when SIGTERM or SIGINT ended it, else none."""
    return GROUP_SIGNAL_GRACE_S if exit_code in _GROUP_SIGNALS else 0.0


def wait_or_kill(child: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Wait for ``child`` to end, kill it after ``timeout_s``, then close its standard input."""
    try:
        child.wait(timeout_s)
    except subprocess.TimeoutExpired:
        logger.error("MQTT ingest process %d did not stop in %.0f s; killed", child.pid, timeout_s)
        child.kill()
        child.wait()
    finally:
        if child.stdin is not None:
            with contextlib.suppress(OSError):
                child.stdin.close()
