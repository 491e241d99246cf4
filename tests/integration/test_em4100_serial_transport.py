"""The serial transport by URL: loop://, socket:// (a ser2net stand-in), back-off and survival,
and one owner per device path across processes (real pseudo-terminals): by the port's lock, and
by the peer lock the host's gateway processes share (``drivers.peer_lock``)."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial

from drivers.peer_lock import PeerLock, Take
from drivers.serial.transport import SerialConfig, SerialReader, open_serial
from fwsim.pty import PtyPair
from gateway.errors import ConfigError, DecodeError, DeviceHeldElsewhere

REPO_ROOT = Path(__file__).resolve().parents[2]

# The RDM630 data sheet's worked example (tests/corpus/em4100/rdm6300_frames.json).
SEEED = bytes.fromhex("0230313030303733344530443203")


def wait_for(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class Collector:
    def __init__(self) -> None:
        self.data = bytearray()
        self.states: list[tuple[bool, str]] = []
        self.standbys: list[str] = []
        self.lock = threading.Lock()

    def on_bytes(self, chunk: bytes) -> None:
        with self.lock:
            self.data += chunk

    def on_state(self, connected: bool, reason: str) -> None:
        self.states.append((connected, reason))

    def on_standby(self, reason: str) -> None:
        self.standbys.append(reason)


def test_loop_url_delivers_written_bytes_to_the_callback() -> None:
    got = Collector()
    reader = SerialReader(
        SerialConfig("loop://", read_timeout_s=0.02), got.on_bytes, on_state=got.on_state
    )
    reader.start()
    try:
        wait_for(lambda: reader.connected)
        assert reader.write(SEEED * 3) == len(SEEED) * 3
        wait_for(lambda: len(got.data) == len(SEEED) * 3)
        assert bytes(got.data) == SEEED * 3
        assert reader.stats.bytes_read == len(SEEED) * 3
    finally:
        reader.stop()
    assert got.states[0][0] is True
    assert got.states[-1] == (False, "stopped")
    assert not reader.connected


def test_a_decode_error_in_the_callback_is_counted_and_reading_goes_on() -> None:
    seen: list[bytes] = []

    def on_bytes(chunk: bytes) -> None:
        # loop:// may deliver a write in several chunks, so the triggers are single bytes.
        if chunk == b"\xff":
            raise DecodeError("garbage", chunk)
        if chunk == b"\xee":
            raise RuntimeError("a bug downstream")
        seen.append(chunk)

    reader = SerialReader(SerialConfig("loop://", read_timeout_s=0.02), on_bytes)
    reader.start()
    try:
        wait_for(lambda: reader.connected)
        reader.write(b"\xff")
        wait_for(lambda: reader.stats.decode_errors == 1)
        reader.write(b"\xee")
        wait_for(lambda: reader.stats.callback_errors == 1)
        reader.write(b"ok")
        wait_for(lambda: b"".join(seen) == b"ok")
    finally:
        reader.stop()


def test_missing_device_is_reported_once_and_retried_with_back_off(tmp_path: object) -> None:
    got = Collector()
    config = SerialConfig(
        f"{tmp_path}/no-such-tty", reopen_initial_s=0.01, reopen_max_s=0.04, read_timeout_s=0.02
    )
    reader = SerialReader(config, got.on_bytes, on_state=got.on_state)
    reader.start()
    try:
        wait_for(lambda: reader.stats.open_failures >= 6)
    finally:
        reader.stop()
    assert [s for s, _ in got.states] == [False]
    assert "no-such-tty" in got.states[0][1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": ""},
        {"url": "loop://", "parity": "X"},
        {"url": "loop://", "baudrate": 0},
        {"url": "loop://", "reopen_initial_s": 2.0, "reopen_max_s": 1.0},
    ],
)
def test_invalid_serial_config_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SerialConfig(**kwargs)  # type: ignore[arg-type]


class Ser2NetStandIn:
    """A TCP server that hands each accepted connection to the test, like ser2net's raw port."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(3.0)
        self.port = self.server.getsockname()[1]

    def accept(self) -> socket.socket:
        conn, _ = self.server.accept()
        return conn

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def ser2net() -> Iterator[Ser2NetStandIn]:
    server = Ser2NetStandIn()
    yield server
    server.close()


def test_socket_url_reconnects_after_the_server_drops_the_connection(
    ser2net: Ser2NetStandIn,
) -> None:
    got = Collector()
    config = SerialConfig(
        f"socket://127.0.0.1:{ser2net.port}", read_timeout_s=0.02, reopen_initial_s=0.02
    )
    reader = SerialReader(config, got.on_bytes, on_state=got.on_state)
    reader.start()
    try:
        first = ser2net.accept()
        # pyserial drains its input while opening; a device's bytes count from then on.
        wait_for(lambda: reader.connected)
        first.sendall(SEEED)
        wait_for(lambda: bytes(got.data) == SEEED)
        first.close()
        second = ser2net.accept()
        wait_for(lambda: reader.stats.reopens == 1)
        second.sendall(SEEED)
        wait_for(lambda: bytes(got.data) == SEEED * 2)
        second.close()
    finally:
        reader.stop()
    assert [s for s, _ in got.states][:3] == [True, False, True]
    assert reader.stats.disconnects >= 1


def read_exactly(port: serial.Serial, size: int, timeout_s: float = 3.0) -> bytes:
    """Up to ``size`` bytes from a pyserial port, reading until they are all there or time is up."""
    got = bytearray()
    deadline = time.monotonic() + timeout_s
    while len(got) < size and time.monotonic() < deadline:
        got += port.read(size - len(got))
    return bytes(got)


def test_a_held_device_refuses_a_second_opener_until_the_first_closes() -> None:
    with PtyPair() as pty:
        config = SerialConfig(pty.slave_path, read_timeout_s=0.02)
        first = open_serial(config)
        try:
            with pytest.raises(DeviceHeldElsewhere, match="in use by another process"):
                open_serial(config)
        finally:
            first.close()
        second = open_serial(config)
        try:
            pty.write(SEEED)
            assert read_exactly(second, len(SEEED)) == SEEED
        finally:
            second.close()


# Opens the port through the gateway's own transport (taking the reader's peer lock first, as a
# gateway process does, when a lock path is given), says so, and holds it until killed.
HOLDER = """
import sys, time
from pathlib import Path
from drivers.peer_lock import PeerLock, Take
from drivers.serial.transport import SerialConfig, open_serial
if len(sys.argv) > 2:
    assert PeerLock(Path(sys.argv[2])).try_take() is Take.OWNED
port = open_serial(SerialConfig(sys.argv[1]))
print("held", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("peer_locked", [False, True], ids=["port-lock", "peer-lock"])
def test_a_reader_takes_over_a_device_whose_holder_process_was_killed(
    tmp_path: Path, peer_locked: bool
) -> None:
    lock = tmp_path / "locks" / "reader.lock"
    with PtyPair() as pty:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, pty.slave_path, *([str(lock)] if peer_locked else [])],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stderr is not None
            ready, _, _ = select.select([holder.stdout], [], [], 20.0)
            line = holder.stdout.readline() if ready else ""
            assert line == "held\n", line + (
                holder.stderr.read() if holder.poll() is not None else ""
            )

            got = Collector()
            config = SerialConfig(
                pty.slave_path, read_timeout_s=0.02, reopen_initial_s=0.02, reopen_max_s=0.1
            )
            reader = SerialReader(
                config,
                got.on_bytes,
                on_state=got.on_state,
                on_standby=got.on_standby,
                peer_lock=PeerLock(lock) if peer_locked else None,
            )
            reader.start()
            try:
                wait_for(lambda: reader.stats.open_failures >= 3)
                assert reader.stats.opens == 0 and not reader.stats.connected
                assert got.states == []  # standing by: the reader is not lost, no outage
                # One spell of standing by, said once however many attempts it took.
                assert len(got.standbys) == 1
                expected = "another gateway process" if peer_locked else "in use by another"
                assert expected in got.standbys[0]

                os.kill(holder.pid, signal.SIGKILL)
                assert holder.wait(timeout=10) == -signal.SIGKILL
                wait_for(lambda: reader.stats.connected)
                assert reader.stats.opens == 1
                pty.write(SEEED)
                wait_for(lambda: bytes(got.data) == SEEED)
            finally:
                reader.stop()
            assert [connected for connected, _ in got.states] == [True, False]
            assert len(got.standbys) == 1
        finally:
            if holder.poll() is None:
                os.kill(holder.pid, signal.SIGKILL)
                holder.wait(timeout=10)
            for stream in (holder.stdout, holder.stderr):
                if stream is not None:
                    stream.close()


def test_a_device_that_vanishes_while_another_opener_holds_it_is_that_openers_loss() -> None:
    """Two processes of a host share a reader: this one stands by while the other holds the
    port. The device is unplugged: the holder reports the loss, this one does not (one
    unplugged reader, one alert). Once this one has opened the device, a loss is its own."""
    with PtyPair(stable_link=True) as pty:
        holder = open_serial(SerialConfig(pty.path))
        got = Collector()
        config = SerialConfig(
            pty.path, read_timeout_s=0.02, reopen_initial_s=0.02, reopen_max_s=0.1
        )
        reader = SerialReader(
            config, got.on_bytes, on_state=got.on_state, on_standby=got.on_standby
        )
        reader.start()
        try:
            wait_for(lambda: len(got.standbys) == 1)
            pty.unplug()
            holder.close()  # the holder saw its device go: its loss to report
            failures = reader.stats.open_failures
            wait_for(lambda: reader.stats.open_failures >= failures + 5)
            assert got.states == []
            pty.replug()
            wait_for(lambda: reader.stats.connected)
            pty.unplug()
            wait_for(lambda: not reader.stats.connected)
            assert [connected for connected, _ in got.states] == [True, False]
        finally:
            reader.stop()
            holder.close()


def _reader(path: str, got: Collector, lock: Path | None) -> SerialReader:
    """A reader of ``path`` retrying quickly, with a peer lock at ``lock`` if given."""
    config = SerialConfig(path, read_timeout_s=0.02, reopen_initial_s=0.02, reopen_max_s=0.1)
    return SerialReader(
        config,
        got.on_bytes,
        on_state=got.on_state,
        on_standby=got.on_standby,
        peer_lock=None if lock is None else PeerLock(lock),
    )


def test_readers_sharing_a_peer_lock_one_reads_and_reports_losses_the_other_stands_by(
    tmp_path: Path,
) -> None:
    """Two gateway processes' readers of one device (one peer lock file): the first owns it, the
    second stands by without touching the port. The device is unplugged and replugged: the
    owner reports the loss and the return, exactly once each, and the other reports nothing,
    however often it tries. The owner stops: the other takes the reader over and reads it."""
    lock = tmp_path / "locks" / "em-a.lock"
    with PtyPair(stable_link=True) as pty:
        owner_got, other_got = Collector(), Collector()
        owner, other = _reader(pty.path, owner_got, lock), _reader(pty.path, other_got, lock)
        owner.start()
        try:
            wait_for(lambda: owner.stats.connected)
            other.start()
            wait_for(lambda: other.stats.open_failures >= 3)
            assert other_got.standbys and "another gateway process" in other_got.standbys[0]
            pty.unplug()
            wait_for(lambda: not owner.stats.connected)
            failures = other.stats.open_failures
            wait_for(lambda: other.stats.open_failures >= failures + 5)
            pty.replug()
            wait_for(lambda: owner.stats.connected)
            assert [c for c, _ in owner_got.states] == [True, False, True]
            assert other_got.states == [] and len(other_got.standbys) == 1
            owner.stop()
            wait_for(lambda: other.stats.connected)
            pty.write(SEEED)
            wait_for(lambda: bytes(other_got.data) == SEEED)
            assert owner_got.data == b""
        finally:
            owner.stop()
            other.stop()
        assert [c for c, _ in other_got.states] == [True, False]  # read, then stopped


def test_a_port_held_by_a_program_without_the_peer_lock_is_an_outage(tmp_path: Path) -> None:
    """A program that is not a gateway process (it takes the port's lock, not the peer lock)
    holds the reader: nobody reads it, so the reader owning the peer lock reports it lost,
    once however often it tries, and reads it once the program lets go."""
    with PtyPair() as pty:
        program = open_serial(SerialConfig(pty.slave_path))
        got = Collector()
        reader = _reader(pty.slave_path, got, tmp_path / "locks" / "em-a.lock")
        reader.start()
        try:
            wait_for(lambda: reader.stats.open_failures >= 5)
            assert got.standbys == []
            ((connected, reason),) = got.states
            assert not connected
            assert "held by a program that is not a gateway process" in reason
            program.close()
            wait_for(lambda: reader.stats.connected)
            pty.write(SEEED)
            wait_for(lambda: bytes(got.data) == SEEED)
        finally:
            reader.stop()
            program.close()
        assert [c for c, _ in got.states] == [False, True, False]  # lost, read, stopped


def test_an_unusable_peer_lock_leaves_the_reader_to_the_ports_lock(tmp_path: Path) -> None:
    """The lock directory cannot be made (a file is in the way): the peer lock says so, and the
    reader stands by for any holder of the port, as without a peer lock."""
    (tmp_path / "locks").write_text("not a directory", encoding="utf-8")
    lock = tmp_path / "locks" / "em-a.lock"
    assert PeerLock(lock).try_take() is Take.UNUSABLE
    with PtyPair() as pty:
        holder = open_serial(SerialConfig(pty.slave_path))
        got = Collector()
        reader = _reader(pty.slave_path, got, lock)
        reader.start()
        try:
            wait_for(lambda: reader.stats.open_failures >= 3)
            assert got.states == [] and len(got.standbys) == 1
            assert "in use by another process" in got.standbys[0]
            holder.close()
            wait_for(lambda: reader.stats.connected)
        finally:
            reader.stop()
            holder.close()


def test_a_peer_lock_is_held_by_one_opener_at_a_time_and_let_go_on_release(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "locks" / "em-a.lock"
    first, second = PeerLock(lock), PeerLock(lock)
    assert first.try_take() is Take.OWNED and first.owned
    assert first.try_take() is Take.OWNED  # taken again by its holder: still its own
    assert second.try_take() is Take.PEER and not second.owned
    first.release()
    first.release()  # idempotent
    assert not first.owned
    assert second.try_take() is Take.OWNED
    second.release()
