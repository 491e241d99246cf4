"""``guard-gateway run`` serves the live page: its tile settings reach the page's map, and an
open event stream does not keep the process from stopping on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from drivers.mqtt.broker import RunningBroker
from gateway.bootstrap import free_port
from gateway.cli import main
from tests.conftest import REPO_ROOT
from tests.fixtures.api_tokens import bearer

TILES = "http://tiles.site.lan/amap/{z}/{x}/{y}.png"


def test_run_serves_the_page_with_the_tile_settings_and_stops_with_a_stream_open(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mqtt_broker: RunningBroker,
) -> None:
    for name in list(os.environ):
        if name.startswith("GATEWAY_") and name != "GATEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    assert main(["token", "create", "--role", "admin", "--name", "ops"]) == 0
    token = capsys.readouterr().out.strip()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        "GATEWAY_DATABASE_URL": db_url,
        "GATEWAY_MQTT_URL": mqtt_broker.url,
        "GATEWAY_API_PORT": str(port),
        "GATEWAY_MAP_TILE_URL": TILES,
        "GATEWAY_MAP_TILE_DATUM": "gcj02",
        "GATEWAY_MAP_TILE_ATTRIBUTION": "© 高德地图 AMap",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    api = f"http://127.0.0.1:{port}"
    try:
        assert process.stdout is not None and process.stderr is not None
        started = process.stdout.readline()
        assert started.startswith(f"guard-gateway: API on {api}"), started + (
            process.stderr.read() if process.poll() is not None else ""
        )
        assert httpx.get(f"{api}/live", timeout=10).status_code == 200
        tiles = httpx.get(f"{api}/map", headers=bearer(token), timeout=10).json()["tiles"]
        assert tiles == {"url": TILES, "datum": "gcj02", "attribution": "© 高德地图 AMap"}
        with (
            httpx.Client(timeout=httpx.Timeout(10, read=30)) as client,
            client.stream("GET", f"{api}/events/stream", headers=bearer(token)) as stream,
        ):
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert [next(lines), next(lines), next(lines), next(lines)] == [
                "retry: 3000",
                "id: -",  # no event yet: a page resuming from here gets them all
                "event: hello",
                "data: {}",
            ]
            stopping = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
            # Without a bound on the graceful shutdown the API thread waits out its 10 s join.
            assert time.monotonic() - stopping < 6
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
