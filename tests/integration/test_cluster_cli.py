"""``guard-gateway run --partitions`` on SQLite: one process may hold every partition (it shows
them on /health); a second process on the same file is refused, saying why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from drivers.mqtt.broker import RunningBroker, free_port
from gateway.bench.multiproc import partitions_held

GATEWAY = Path(sys.executable).with_name("guard-gateway")


def test_sqlite_serves_one_partitioned_process_and_refuses_a_second(
    mqtt_broker: RunningBroker, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}",
        "GATEWAY_MQTT_URL": mqtt_broker.url,
        "GATEWAY_MQTT_CLIENT_ID": "cli-cluster",
    }
    upgraded = subprocess.run([str(GATEWAY), "db", "upgrade"], env=env, capture_output=True)
    assert upgraded.returncode == 0, upgraded.stderr
    port = free_port()
    log = tmp_path / "first.log"
    with log.open("wb") as out:
        first = subprocess.Popen(
            [str(GATEWAY), "run", "--partitions", "3"],
            env={**env, "GATEWAY_API_PORT": str(port), "GATEWAY_NODE_ID": "first"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "guard-gateway: API on" not in log.read_text(errors="replace"):
            assert first.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.05)
        assert "node first holding partitions [0, 1, 2] of 3" in log.read_text()
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        cluster = health["cluster"]
        assert partitions_held(health) == 3  # as the bench's multi-process flood reads it
        assert cluster == {
            "node": "first",
            "partitions": 3,
            "held": {"0": 1, "1": 1, "2": 1},
            "live_nodes": 1,
        }
        second = subprocess.run(
            [str(GATEWAY), "run", "--partitions", "3"],
            env={**env, "GATEWAY_API_PORT": str(free_port()), "GATEWAY_NODE_ID": "second"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "node first is running on this SQLite database: SQLite serves one process" in (
            second.stderr
        )
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0


def test_a_second_delivery_worker_is_refused_on_sqlite(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}",
        "GATEWAY_DELIVERY_WORKERS": "2",
    }
    subprocess.run([str(GATEWAY), "db", "upgrade"], env=env, check=True, capture_output=True)
    refused = subprocess.run(
        [str(GATEWAY), "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert "GATEWAY_DELIVERY_WORKERS=2 needs PostgreSQL" in refused.stderr


@pytest.fixture(autouse=True)
def _no_core(monkeypatch: pytest.MonkeyPatch) -> None:
    # refuse_default_secrets only checks the core key when a core is set: none here.
    monkeypatch.delenv("GATEWAY_CORE_URL", raising=False)
