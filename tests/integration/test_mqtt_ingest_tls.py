"""MQTT ingest over TLS (``mqtts://``), in the gateway's process and in the ingest process.

A private mosquitto with a TLS listener, its certificate signed by a CA made here with the
``openssl`` command; the ingest trusts that CA only (``TlsOptions.ca_file``) and checks the
broker's name (127.0.0.1, in the certificate's subject alternative names).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from drivers.mqtt.broker import free_port
from drivers.mqtt.ingest import MqttIngest, TlsOptions
from drivers.mqtt.ingest_process import IngestProcess
from drivers.mqtt.ingest_types import Ingest
from gateway.clock import ManualClock
from tests.integration.test_mqtt_ingest import CONNECT_TIMEOUT_S, T0, Collector, wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto") is None or shutil.which("openssl") is None,
    reason="needs the mosquitto and openssl commands",
)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """(port, CA file) of a mosquitto listening with TLS only, on 127.0.0.1."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=guard-gateway test CA", "-keyout", "ca.key", "-out", "ca.crt",
             cwd=tmp_path)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr", cwd=tmp_path)  # fmt: skip
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt",
             cwd=tmp_path)  # fmt: skip
    port = free_port()
    (tmp_path / "mosquitto.conf").write_text(
        "\n".join(
            [
                f"listener {port} 127.0.0.1",
                f"cafile {tmp_path / 'ca.crt'}",
                f"certfile {tmp_path / 'server.crt'}",
                f"keyfile {tmp_path / 'server.key'}",
                "allow_anonymous true",
                f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            ]
        )
        + "\n"
    )
    broker = subprocess.Popen(
        ["mosquitto", "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            assert broker.poll() is None and time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)
        yield port, tmp_path / "ca.crt"
    finally:
        os.kill(broker.pid, signal.SIGTERM)
        broker.wait(10)


@pytest.mark.parametrize("kind", [MqttIngest, IngestProcess], ids=["in-process", "child-process"])
def test_ingest_reads_and_acknowledges_over_tls_trusting_the_given_ca(
    tls_broker: tuple[int, Path], kind: Callable[..., Ingest]
) -> None:
    port, ca_file = tls_broker
    got = Collector()
    ingest = got.ingest = kind(
        f"mqtts://127.0.0.1:{port}",
        client_id="gateway-tls",
        topic_filters=["devices/#"],
        handoff=got,
        clock=ManualClock(T0),
        tls=TlsOptions(ca_file=str(ca_file)),
    )
    ingest.start()
    try:
        assert ingest.wait_connected(CONNECT_TIMEOUT_S), ingest.stats.last_error
        publisher = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        publisher.tls_set(ca_certs=str(ca_file))
        publisher.connect("127.0.0.1", port)
        publisher.loop_start()
        publisher.publish(
            "devices/T-0001/gps", b'{"lat":30.59,"lon":114.30}', qos=1
        ).wait_for_publish(10)
        publisher.disconnect()
        publisher.loop_stop()
        [message] = got.take(1)  # acknowledged by the collector, as the pipeline does
        assert message.payload == b'{"lat":30.59,"lon":114.30}' and message.received_at == T0
        assert wait_until(lambda: ingest.stats.acknowledged == 1)
    finally:
        ingest.stop()


@pytest.mark.parametrize("kind", [MqttIngest, IngestProcess], ids=["in-process", "child-process"])
def test_a_broker_whose_certificate_the_ca_did_not_sign_is_refused_with_the_reason(
    tls_broker: tuple[int, Path], tmp_path: Path, kind: Callable[..., Ingest]
) -> None:
    port, _ = tls_broker
    other = tmp_path / "other"
    other.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other",
             "-keyout", "other.key", "-out", "other.crt", cwd=other)  # fmt: skip
    ingest = kind(
        f"mqtts://127.0.0.1:{port}",
        client_id="gateway-tls-refused",
        topic_filters=["devices/#"],
        handoff=Collector(),
        clock=ManualClock(T0),
        tls=TlsOptions(ca_file=str(other / "other.crt")),
    )
    ingest.start()
    try:
        assert not ingest.wait_connected(3)
        assert wait_until(lambda: ingest.stats.last_error is not None)
        error = ingest.stats.last_error or ""
        assert error.startswith(f"cannot connect to mqtts://127.0.0.1:{port}: ")
        assert "CERTIFICATE_VERIFY_FAILED" in error
    finally:
        ingest.stop()
