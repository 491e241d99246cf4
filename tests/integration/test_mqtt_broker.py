"""Private brokers for tests and the demo, and the local-broker probe."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.mqtt.broker import find_local_broker, free_port, start_broker
from gateway.errors import ConfigError, TransportError


@pytest.fixture
def not_mqtt_port() -> Iterator[int]:
    """A loopback port held by a server that accepts and answers garbage (not a broker)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join()
    server.close()


def test_start_broker_prefers_mosquitto_when_installed() -> None:
    with start_broker() as broker:
        expected = "mosquitto" if shutil.which("mosquitto") else "amqtt"
        assert broker.kind == expected
        assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
        assert find_local_broker(broker.url, timeout=2)
    assert not broker.running
    assert not find_local_broker(broker.url, timeout=0.5)


@pytest.mark.parametrize("kind", ["mosquitto", "amqtt"])
def test_a_restarted_broker_listens_on_the_same_port(kind: str) -> None:
    if kind == "mosquitto" and shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed")
    port = free_port()
    broker = start_broker(port, kind=kind)  # type: ignore[arg-type]
    try:
        assert broker.port == port
        broker.restart()
        assert broker.running and broker.port == port
        assert find_local_broker(broker.url, timeout=2)
    finally:
        broker.stop()
        broker.stop()  # idempotent
    assert not find_local_broker(f"mqtt://127.0.0.1:{port}", timeout=0.5)


def test_mosquitto_temp_dir_is_removed_on_stop() -> None:
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed")
    broker = start_broker(kind="mosquitto")
    log = broker.log_path  # type: ignore[attr-defined]
    assert log is not None and log.exists()
    broker.stop()
    assert not log.parent.exists()


_OWNER = """\
import sys, time
from drivers.mqtt.broker import start_broker
broker = start_broker(kind="mosquitto")
print(broker.port, broker.log_path.parent, flush=True)
time.sleep(600)
"""


def _mosquitto_alive(config_dir: str) -> bool:
    """Whether a live (not zombie) process runs with a config from ``config_dir``."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            status = (proc / "status").read_text()
        except OSError:
            continue
        if config_dir.encode() in cmdline and "\nState:\tZ" not in status:
            return True
    return False


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's parent-death signal")
def test_a_parent_killed_with_sigkill_takes_its_private_mosquitto_with_it() -> None:
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed")
    owner = subprocess.Popen([sys.executable, "-c", _OWNER], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        port, config_dir = owner.stdout.readline().split()
        url = f"mqtt://127.0.0.1:{port}"
        assert find_local_broker(url, timeout=2) and _mosquitto_alive(config_dir)
        owner.send_signal(signal.SIGKILL)  # no atexit hook runs
        owner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _mosquitto_alive(config_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _mosquitto_alive(config_dir)
        assert not find_local_broker(url, timeout=0.5)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        shutil.rmtree(config_dir, ignore_errors=True)


def test_starting_on_a_busy_port_fails_with_the_brokers_own_words() -> None:
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed")
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        with pytest.raises(TransportError, match=f"127.0.0.1:{port}.*did not start") as info:
            start_broker(port, kind="mosquitto", startup_timeout_s=3)
    assert "Address already in use" in str(info.value)


def test_probe_says_no_for_a_port_that_is_not_a_broker(not_mqtt_port: int) -> None:
    assert not find_local_broker(f"mqtt://127.0.0.1:{not_mqtt_port}", timeout=1)
    assert not find_local_broker(f"mqtt://127.0.0.1:{free_port()}", timeout=0.5)


def test_probe_uses_the_credentials_in_the_url() -> None:
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("password users need mosquitto and mosquitto_passwd")
    with start_broker(kind="mosquitto", users={"ops": "pa55"}) as broker:
        assert not find_local_broker(broker.url, timeout=2)
        assert not find_local_broker(f"mqtt://ops:wrong@127.0.0.1:{broker.port}", timeout=2)
        assert find_local_broker(f"mqtt://ops:pa55@127.0.0.1:{broker.port}", timeout=2)


def test_amqtt_refuses_password_users_and_unknown_kinds_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="amqtt"):
        start_broker(kind="amqtt", users={"ops": "pa55"})
    with pytest.raises(ConfigError, match="unknown broker kind"):
        start_broker(kind="hivemq")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        find_local_broker("http://127.0.0.1:1883")
