"""A private mosquitto process with its config, password file and persistence in a temp dir."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from drivers.mqtt._running import RunningBroker, wait_for_broker
from gateway.errors import TransportError

__all__ = ["MosquittoBroker"]

logger = logging.getLogger(__name__)

_STOP_TIMEOUT_S = 5.0

AUTOSAVE_INTERVAL_S = 1
"""How often the private broker writes its whole in-memory state to ``mosquitto.db``."""

MAX_INFLIGHT_MESSAGES = 1000
"""Unacknowledged QoS-1 messages the private broker sends one client before waiting for PUBACKs.

The gateway acknowledges a message only once the batch holding it is committed, so this window is
what one commit can take in: mosquitto's default of 20 would cap a batch at 20 messages and the
rate at 20 per commit round trip. See docs/device-contract.md for the measured rates."""


_BOUND_TO_PARENT = """\
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)  # the parent died before the line above took effect
os.execv(sys.argv[2], sys.argv[2:])
"""
"""Run before mosquitto's own code (it replaces this interpreter): the kernel sends it SIGTERM
when the thread that started it dies, even by SIGKILL, which no ``atexit`` hook sees."""


def _command(binary: str, config: Path) -> list[str]:
    """Mosquitto's command line; on Linux, started from the main thread, bound to this process
    (a thread that ends would take the broker with it, so other threads' brokers are not)."""
    command = [binary, "-c", str(config)]
    if sys.platform == "linux" and threading.current_thread() is threading.main_thread():
        return [sys.executable, "-c", _BOUND_TO_PARENT, str(os.getpid()), *command]
    return command


class MosquittoBroker(RunningBroker):
    """``mosquitto -c <tempdir>/mosquitto.conf`` on ``127.0.0.1:port``.

    Persistence is on: sessions and their queued QoS-1 messages are saved every
    ``AUTOSAVE_INTERVAL_S`` and at a clean shutdown, in the temp dir, so ``restart()`` keeps them
    (as a production broker must), and so does ``kill()`` followed by ``start()`` for everything
    older than the last autosave. The temp dir goes at ``stop()``. A broker started from the main
    thread on Linux stops when this process dies, however it dies (its temp dir then stays).
    """

    kind = "mosquitto"

    def __init__(
        self,
        binary: str,
        port: int,
        users: Mapping[str, str] | None,
        startup_timeout_s: float,
        max_inflight: int = MAX_INFLIGHT_MESSAGES,
    ) -> None:
        super().__init__(port, startup_timeout_s)
        self._binary = binary
        self._users = dict(users or {})
        self.max_inflight = max_inflight
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path | None:
        """The broker's log file (its stderr), while the broker exists."""
        return self._dir / "mosquitto.log" if self._dir else None

    def _prepare(self) -> Path:
        if self._dir is not None:
            return self._dir
        directory = Path(tempfile.mkdtemp(prefix="gateway-mosquitto-"))
        lines = [
            f"listener {self.port} 127.0.0.1",
            # Without it, QoS-1 traffic on loopback stalls at 0.5-2.4k msg/s: Nagle's algorithm
            # holds small PUBLISH/PUBACK packets back waiting for the peer's delayed ACK.
            "set_tcp_nodelay true",
            "persistence true",
            f"persistence_location {directory}/",
            # mosquitto keeps sessions and queued messages in memory and writes them out only at a
            # clean shutdown and every autosave_interval seconds (default 1800): a crash (SIGKILL,
            # OOM, power) loses whatever the last save did not hold, including QoS-1 messages
            # already PUBACKed to their publishers. Each save rewrites the whole database and
            # blocks the broker's loop meanwhile, so a shorter interval costs I/O in proportion
            # to the backlog; the private broker's backlogs are small, and 1 s bounds the loss.
            f"autosave_interval {AUTOSAVE_INTERVAL_S}",
            "autosave_on_changes false",  # the interval is in seconds, not in changes
            # A gateway that is down for a while must find everything queued when it returns.
            "max_queued_messages 1000000",
            "max_queued_bytes 0",
            # The broker sends at most this many unacknowledged QoS-1 messages to one client and
            # queues the rest. The gateway acknowledges after its commit, so this is the most one
            # commit can take in (see MAX_INFLIGHT_MESSAGES).
            f"max_inflight_messages {self.max_inflight}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            # Run as whoever we are: as root mosquitto would switch to the 'mosquitto' user,
            # which cannot write our private temp dir.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
        ]
        if self._users:
            password_file = directory / "passwords"
            password_file.touch(mode=0o600)
            for name, password in self._users.items():
                self._run_passwd(password_file, name, password)
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        (directory / "mosquitto.conf").write_text("\n".join(lines) + "\n")
        self._dir = directory
        return directory

    @staticmethod
    def _run_passwd(password_file: Path, name: str, password: str) -> None:
        tool = shutil.which("mosquitto_passwd")
        if tool is None:
            raise TransportError("broker users need mosquitto_passwd, which is not on PATH")
        result = subprocess.run(
            [tool, "-b", str(password_file), name, password],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            reason = result.stderr.decode(errors="replace").strip()
            raise TransportError(f"mosquitto_passwd failed for user {name!r}: {reason}")

    def start(self) -> None:
        if self.running:
            return
        directory = self._prepare()
        log = (directory / "mosquitto.log").open("ab")
        try:
            self._process = subprocess.Popen(
                _command(self._binary, directory / "mosquitto.conf"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        # A caller that exits without stop() would otherwise leave an orphan broker behind.
        atexit.register(self.stop)
        if not wait_for_broker(self.port, self._startup_timeout_s, alive=lambda: self.running):
            detail = self._log_tail()
            self.stop()
            raise self._startup_failed(detail)

    def _log_tail(self, lines: int = 20) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty log)"

    def halt(self) -> None:
        """Stop the process (SIGTERM: it saves its sessions), keeping the temp dir."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                logger.warning("mosquitto on port %d ignored SIGTERM; killing it", self.port)
                process.kill()
                process.wait()

    def kill(self) -> None:
        """Kill the process with SIGKILL, as a crash does: nothing is saved beyond the last
        autosave. The temp dir (config, ``mosquitto.db``) stays for ``start()``."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()

    @property
    def persistence_file(self) -> Path | None:
        """Where the broker saves its sessions (it exists after the first save)."""
        return self._dir / "mosquitto.db" if self._dir else None

    def stop(self) -> None:
        atexit.unregister(self.stop)
        self.halt()
        directory, self._dir = self._dir, None
        if directory is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(directory)
