"""A network clock-in terminal is talked to by one process of a host (``gateway.host_lock``):
two gateways started as ``guard-gateway run`` starts them (``build_gateway``, ``Gateway.start``)
on one database, with the simulated ZKTeco terminal over real TCP on 127.0.0.1. The second
stands by while the first holds the terminal's lock, and takes the terminal over when the first
stops; a holder killed with SIGKILL lets go too."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from drivers.zkteco.driver import ZkTcpClient
from fwsim.zkteco.binary_terminal import BinaryTerminal, LogRecord
from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.patrol_models import PunchRow
from gateway.db.schema import create_schema
from gateway.host_lock import DEFAULT_LOCK_DIR, RETRY_S, HostExclusive, default_lock_dir, lock_path
from gateway.lifecycle import Gateway
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.fixtures.zkteco import wait_until
from tests.integration.test_zkteco_binary_udp import _site_file

NOW = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)
RECORDS = [
    LogRecord(str(3001), datetime(2026, 3, 2, 7, 50 + i, 0), punch=0, verify=1) for i in range(3)
]


@pytest.fixture
def terminal() -> Iterator[BinaryTerminal]:
    with BinaryTerminal(records=RECORDS, transport="tcp") as sim:
        yield sim


def _gateway(db_url: str, lock_dir: Path) -> Gateway:
    settings = Settings(database_url=db_url, lock_dir=lock_dir)  # GATEWAY_LOCK_DIR
    gateway = build_gateway(settings, ManualClock(NOW), with_ingest=False)
    gateway.start()
    return gateway


def _terminal_lock(gateway: Gateway) -> HostExclusive:
    (locked,) = gateway.field_devices.running
    assert isinstance(locked, HostExclusive) and isinstance(locked.inner, ZkTcpClient)
    return locked


def _punches(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            return int(session.scalar(select(func.count()).select_from(PunchRow)) or 0)
    finally:
        engine.dispose()


class Recorder:
    """Stands in for a terminal's client: records being started and stopped."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")


def test_one_gateway_of_the_host_talks_to_the_terminal_the_other_takes_over(
    db_url: str, tmp_path: Path, terminal: BinaryTerminal
) -> None:
    engine = make_engine(db_url)
    create_schema(engine)
    terminal_url = f"tcp://127.0.0.1:{terminal.port}"
    load_site_file(_site_file(tmp_path, terminal_url), engine, NOW)
    engine.dispose()
    locks = tmp_path / "locks"
    first = _gateway(db_url, locks)
    second: Gateway | None = None
    try:
        wait_until(lambda: first.processor.counters.get("punches.stored") == 3)
        assert _terminal_lock(first).holding
        expected = lock_path(f"zkteco://127.0.0.1:{terminal.port}", locks)
        assert [p.name for p in locks.iterdir()] == [expected.name]
        second = _gateway(db_url, locks)
        time.sleep(RETRY_S + 0.5)  # a standby tries again every RETRY_S: give it one try
        assert not _terminal_lock(second).holding
        # What each one's /metrics say (guard_gateway_terminal_state).
        assert first.field_devices.terminal_states() == {"zk-gate": "holding"}
        assert second.field_devices.terminal_states() == {"zk-gate": "standby"}
        assert terminal.connects == 1  # one session for the two gateways
        assert terminal.live_connections == 1

        first.stop()
        wait_until(lambda: _terminal_lock(second).holding, RETRY_S + 5.0)
        assert second.field_devices.terminal_states() == {"zk-gate": "holding"}
        wait_until(lambda: second.processor.counters.get("punches.duplicate") == 3)
        assert terminal.connects == 2
        assert second.processor.counters.get("punches.stored") == 0  # the log read again
        assert _punches(db_url) == 3
    finally:
        if second is not None:
            second.stop()
        first.stop()


def test_a_holder_killed_with_sigkill_lets_the_standby_take_over(tmp_path: Path) -> None:
    path = lock_path("tcp://127.0.0.1:4370", tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "time.sleep(120)\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    started: list[str] = []
    standby = HostExclusive(Recorder(started), path, name="terminal zk-1", retry_s=0.1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        standby.start()
        time.sleep(0.5)
        assert not standby.holding and started == []
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        wait_until(lambda: standby.holding, 5.0)
        assert started == ["start"]
    finally:
        standby.stop()
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
    assert started == ["start", "stop"]


def test_an_unusable_lock_directory_still_opens_the_terminal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    started: list[str] = []
    path = lock_path("udp://10.0.0.9:4370", blocker)
    locked = HostExclusive(Recorder(started), path, name="zk-2")
    locked.start()
    try:
        wait_until(lambda: locked.holding, 5.0)
    finally:
        locked.stop()
    assert started == ["start", "stop"]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert f"lock {path} unusable" in warning and warning.endswith("zk-2 is opened without it")


def test_the_default_lock_directory_is_the_units_state_directory_under_systemd() -> None:
    state = {"STATE_DIRECTORY": "/var/lib/guard-gateway:/var/lib/other"}
    assert default_lock_dir(state) == Path("/var/lib/guard-gateway/locks")
    assert default_lock_dir({}) == DEFAULT_LOCK_DIR
