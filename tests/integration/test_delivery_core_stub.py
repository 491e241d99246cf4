"""The management-core stub used by delivery tests and benches, driven over real HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from fwsim.core_stub import CoreStub
from gateway.outbox.signing import sign

SECRET = b"bench-secret"


@pytest.fixture
def stub() -> Iterator[CoreStub]:
    with CoreStub(SECRET) as core:
        yield core


def _post(url: str, body: bytes, secret: bytes = SECRET) -> httpx.Response:
    return httpx.post(url, content=body, headers={"X-Signature-256": sign(secret, body)})


def test_http_control_injects_failures_and_lists_what_arrived(stub: CoreStub) -> None:
    assert httpx.post(f"{stub.base_url}/_stub/fail?count=2&status=500").status_code == 200
    body = b'{"id":"e-1","specversion":"1.0"}'
    statuses = [_post(stub.url, body).status_code for _ in range(4)]
    assert statuses == [500, 500, 200, 200]
    listing = httpx.get(f"{stub.base_url}/_stub/events").json()
    assert listing["events"] == [{"id": "e-1", "specversion": "1.0"}]
    assert listing["duplicates"] == ["e-1"]
    assert (listing["failed"], listing["received"], listing["rejected"]) == (2, 4, 0)


def test_any_path_is_a_delivery_endpoint(stub: CoreStub) -> None:
    assert _post(f"{stub.base_url}/hooks/gateway", b'{"id":"e-2"}').json() == {
        "status": "accepted",
        "id": "e-2",
    }


def test_body_without_an_id_is_a_bad_request(stub: CoreStub) -> None:
    assert _post(stub.url, b'{"type":"x"}').status_code == 400
    assert _post(stub.url, b"not json").status_code == 400
    assert stub.events == []


def test_down_refuses_connections_then_comes_back_on_the_same_port(stub: CoreStub) -> None:
    port = stub.port
    stub.set_down(True)
    with pytest.raises(httpx.ConnectError):
        _post(stub.url, b'{"id":"e-3"}')
    stub.set_down(False)
    assert stub.port == port
    assert _post(stub.url, b'{"id":"e-3"}').status_code == 200


def test_down_for_a_while_over_http(stub: CoreStub) -> None:
    assert httpx.post(f"{stub.base_url}/_stub/down?seconds=0.5").status_code == 200
    time.sleep(0.2)
    with pytest.raises(httpx.ConnectError):
        _post(stub.url, b'{"id":"e-4"}')
    deadline = time.monotonic() + 5
    while True:
        try:
            assert _post(stub.url, b'{"id":"e-4"}').status_code == 200
            break
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "stub did not come back"
            time.sleep(0.05)


def test_wait_for_gives_up_after_the_timeout(stub: CoreStub) -> None:
    started = time.monotonic()
    assert stub.wait_for(lambda: len(stub.events) > 0, timeout=0.2) is False
    assert time.monotonic() - started >= 0.2


def test_fwsim_core_stub_command_serves_until_stopped() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fwsim.cli", "core-stub", "--secret", SECRET.decode()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split("POST events to ")[1].split(";")[0]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/events")
        assert _post(url, b'{"id":"e-5"}').status_code == 200
        assert _post(url, b'{"id":"e-6"}', secret=b"wrong").status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)
