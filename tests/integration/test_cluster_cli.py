"""``guard-gateway run --partitions`` on SQLite: one process may hold every partition (it shows
them on /health, and /ready and /metrics answer for every partition's MQTT client, down when
the broker goes); a second process on the same file is refused, saying why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from drivers.mqtt.broker import RunningBroker, free_port
from gateway.bench.multiproc import partitions_held

GATEWAY = Path(sys.executable).with_name("guard-gateway")
SITE = Path(__file__).resolve().parents[2] / "gateway" / "samples" / "wuhan-site.yaml"


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def metric(text: str, name: str) -> float:
    """The value of an unlabelled sample ``name`` in the Prometheus text ``text``."""
    [line] = [ln for ln in text.splitlines() if ln.startswith(name + " ")]
    return float(line.split()[1])


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
            [str(GATEWAY), "run", "--partitions", "3", "--site", str(SITE)],
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
        api = f"http://127.0.0.1:{port}"

        def ready() -> httpx.Response:
            return httpx.get(f"{api}/ready", timeout=5)

        # Readiness asks the client of every partition held (the sample site's devices fall in
        # all three), not a single ingest this process does not have.
        wait_for(lambda: ready().status_code == 200, "the partitions' clients to connect")
        assert ready().json()["checks"]["broker"] == {
            "ok": True,
            "detail": "the 3 partitions held here are connected",
        }
        scraped = httpx.get(f"{api}/metrics", timeout=5).text
        assert metric(scraped, "guard_gateway_partitions_held") == 3
        assert metric(scraped, "guard_gateway_mqtt_connected") == 1
        mqtt_broker.stop()
        wait_for(lambda: ready().status_code == 503, "readiness to see the broker gone")
        answer = ready().json()
        assert answer["failing"] == ["broker"]
        assert answer["checks"]["broker"]["detail"].startswith("3 of 3 not connected: partition 0")
        assert (
            metric(httpx.get(f"{api}/metrics", timeout=5).text, "guard_gateway_mqtt_connected") == 0
        )
        mqtt_broker.start()
        wait_for(lambda: ready().status_code == 200, "the partitions' clients to reconnect")
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
