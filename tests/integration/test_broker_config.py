"""``guard-gateway broker-config`` against a real mosquitto: each terminal publishes only under
its own topics and reads only its own downlink, anonymous and wrong passwords are refused, the
gateway's account receives everything. Passwords never reach the command's output."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import queue
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from drivers.gps.topics import subscription_filters
from drivers.mqtt._probe import connack_code
from drivers.mqtt._running import free_port, wait_for_broker
from drivers.mqtt.url import BrokerAddress
from gateway.broker_config import mosquitto_hash
from gateway.cli import main
from gateway.samples import WUHAN_SITE
from gateway.site.loader import SiteYamlLoader

pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None,
    reason="needs the mosquitto and mosquitto_passwd binaries",
)

GPS_001_PASSWORD = "gps-001 password from the environment"
GATEWAY_PASSWORD = "the gateway's own password"
HOST = "127.0.0.1"


def _site(tmp_path: Path) -> Path:
    data: dict[str, Any] = yaml.load(WUHAN_SITE.read_bytes(), SiteYamlLoader)
    devices = data["sites"][0]["devices"]
    (tmp_path / "jane.pw").write_text("jane's phone password\n")
    devices.append({"id": "jane/nokia", "kind": "gps", "secret_ref": f"file:{tmp_path}/jane.pw"})
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def generated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[Path, dict[str, str]]]:
    """The files ``broker-config`` wrote and every account's password."""
    monkeypatch.setenv("GPS_001_KEY", GPS_001_PASSWORD)
    monkeypatch.setenv("GW_MQTT_PASSWORD", GATEWAY_PASSWORD)
    out = tmp_path / "broker"
    argv = [
        "broker-config",
        str(_site(tmp_path)),
        "--out",
        str(out),
        "--generate",
        "--partitions",
        "2",
    ]
    assert main([*argv, "--gateway-secret", "env:GW_MQTT_PASSWORD"]) == 0
    printed = capsys.readouterr()
    lines = (out / "generated-passwords.txt").read_text().splitlines()
    passwords = dict(line.split(" ", 1) for line in lines if not line.startswith("#"))
    assert sorted(passwords) == [f"gps-{n:03d}" for n in range(2, 11)]
    for secret in [GPS_001_PASSWORD, GATEWAY_PASSWORD, "jane's phone", *passwords.values()]:
        assert secret not in printed.out + printed.err
    passwords |= {
        "gps-001": GPS_001_PASSWORD,
        "guard-gateway": GATEWAY_PASSWORD,
        "guard-gateway-p00": GATEWAY_PASSWORD,
        "guard-gateway-p01": GATEWAY_PASSWORD,
        "jane": "jane's phone password",
    }
    yield out, passwords


@pytest.fixture
def broker(generated: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[int]:
    """A real mosquitto using the generated ``auth.conf``; its port."""
    out, _ = generated
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} {HOST}\n"
        f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
        "log_dest stderr\n" + (out / "mosquitto" / "auth.conf").read_text()
    )
    log = (tmp_path / "mosquitto.log").open("wb")
    process = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=log)
    try:
        assert wait_for_broker(port, 10.0, alive=lambda: process.poll() is None), (
            tmp_path / "mosquitto.log"
        ).read_text()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


class _Client:
    def __init__(
        self, port: int, username: str, password: str, client_id: str | None = None
    ) -> None:
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.subacks: queue.Queue[list[int]] = queue.Queue()
        self.disconnects = 0
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{username}",
        )
        self.client.username_pw_set(username, password)
        self.client.on_disconnect = lambda *_: setattr(self, "disconnects", self.disconnects + 1)
        self.client.on_message = lambda _c, _u, m: self.received.put((m.topic, bytes(m.payload)))
        self.client.on_subscribe = lambda _c, _u, _m, codes, _p: self.subacks.put(
            [c.value for c in codes]
        )
        self.client.connect(HOST, port)
        self.client.loop_start()

    def subscribe(self, *filters: str) -> list[int]:
        self.client.subscribe([(f, 1) for f in filters])
        return self.subacks.get(timeout=5)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)

    def drain_until(self, marker: bytes) -> list[tuple[str, bytes]]:
        """Every message received up to and including the one whose payload is ``marker``."""
        got = []
        while True:
            item = self.received.get(timeout=5)
            got.append(item)
            if item[1] == marker:
                return got

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_password_hash_is_the_format_mosquitto_passwd_writes(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    path.touch(mode=0o600)
    subprocess.run(["mosquitto_passwd", "-b", str(path), "gps-001", "pässword 1"], check=True)
    user, written = path.read_text().strip().split(":", 1)
    assert user == "gps-001"
    salt = written.split("$")[3]
    assert mosquitto_hash("pässword 1", base64.b64decode(salt)) == written
    assert mosquitto_hash("pässword 2", base64.b64decode(salt)) != written


def test_files_are_private_where_they_hold_secrets(generated: tuple[Path, dict[str, str]]) -> None:
    out, passwords = generated
    for name in ("mosquitto/passwords", "emqx/users.json", "generated-passwords.txt"):
        assert (out / name).stat().st_mode & 0o777 == 0o600, name
    text = (out / "mosquitto" / "passwords").read_text()
    # The gateway and its two partition clients, ten terminals, one OwnTracks user.
    assert len(text.splitlines()) == 14
    for password in passwords.values():
        assert password not in text and password not in (out / "emqx" / "users.json").read_text()
    users = json.loads((out / "emqx" / "users.json").read_text())
    assert [u["user_id"] for u in users][:4] == [
        "guard-gateway",
        "guard-gateway-p00",
        "guard-gateway-p01",
        "gps-001",
    ]
    assert {u["is_superuser"] for u in users} == {False}
    # EMQX's sha256 with salt_position = prefix: hex(sha256(Salt ++ Password)).
    for user in users:
        salted = (user["salt"] + passwords[user["user_id"]]).encode()
        assert user["password_hash"] == hashlib.sha256(salted).hexdigest()
    assert len({u["salt"] for u in users}) == len(users) == 14
    acl = (out / "emqx" / "acl.conf").read_text()
    assert acl.rstrip().endswith("{deny, all}.")
    assert '{allow, {username, "gps-001"}, subscribe, ["devices/gps-001/jt808/down"]}.' in acl


def test_each_terminal_speaks_only_for_itself_and_the_gateway_hears_all(
    broker: int, generated: tuple[Path, dict[str, str]]
) -> None:
    _, passwords = generated
    gateway = _Client(broker, "guard-gateway", passwords["guard-gateway"])
    gps1 = _Client(broker, "gps-001", passwords["gps-001"])
    gps2 = _Client(broker, "gps-002", passwords["gps-002"])
    jane = _Client(broker, "jane", passwords["jane"])
    try:
        assert gateway.subscribe(*subscription_filters("devices")) == [1, 1, 1, 1, 1]
        # mosquitto grants any subscription and checks each delivery against the ACL: what a
        # terminal receives is its own downlink only (below), whatever it subscribed to.
        gps1.subscribe("devices/gps-001/jt808/down", "devices/gps-002/jt808/down", "devices/#")
        # A terminal taking the gateway's client id: the broker gives it its own user name
        # instead, so the gateway's connection and session are untouched.
        intruder = _Client(broker, "gps-003", passwords["gps-003"], client_id="test-guard-gateway")
        intruder.close()
        for topic in ("devices/gps-001/json", "devices/gps-001/nmea", "devices/gps-001/jt808"):
            gps1.publish(topic, b"own")
        forged = [
            "devices/gps-002/json",  # another terminal's topic
            "devices/gps-002/jt808",
            "owntracks/jane/nokia",
            "jt808/13800000000/13800000000/up",  # only EMQX's JT/T 808 gateway writes these
            "devices/gps-002/jt808/down",  # only the gateway answers terminals
        ]
        for topic in forged:
            gps1.publish(topic, b"forged")
        jane.publish("owntracks/jane/other", b"forged")
        jane.publish("owntracks/jane/nokia", b"own")
        gps2.publish("devices/gps-001/json", b"forged")
        gps2.publish("devices/gps-002/json", b"end")
        heard = gateway.drain_until(b"end")
        assert heard == [
            ("devices/gps-001/json", b"own"),
            ("devices/gps-001/nmea", b"own"),
            ("devices/gps-001/jt808", b"own"),
            ("owntracks/jane/nokia", b"own"),
            ("devices/gps-002/json", b"end"),
        ]
        gateway.publish("devices/gps-002/jt808/down", b"for gps-002")
        gateway.publish("devices/gps-001/jt808/down", b"for gps-001")
        assert gps1.drain_until(b"for gps-001") == [("devices/gps-001/jt808/down", b"for gps-001")]
        assert [c.disconnects for c in (gateway, gps1, gps2, jane)] == [0, 0, 0, 0]
    finally:
        for client in (gateway, gps1, gps2, jane):
            client.close()


def test_anonymous_and_wrong_passwords_are_refused(
    broker: int, generated: tuple[Path, dict[str, str]]
) -> None:
    _, passwords = generated
    not_authorised = 5  # MQTT 3.1.1 CONNACK return code
    assert connack_code(BrokerAddress(HOST, broker), 2.0) == not_authorised
    wrong = BrokerAddress(HOST, broker, username="gps-001", password=passwords["gps-002"])
    assert connack_code(wrong, 2.0) == not_authorised
    unknown = BrokerAddress(HOST, broker, username="gps-999", password="x")
    assert connack_code(unknown, 2.0) == not_authorised
    generated_one = BrokerAddress(HOST, broker, username="gps-005", password=passwords["gps-005"])
    assert connack_code(generated_one, 2.0) == 0


def test_missing_secrets_are_named_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GPS_001_KEY", raising=False)
    out = tmp_path / "broker"
    assert main(["broker-config", str(_site(tmp_path)), "--out", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "cannot make the broker accounts:"
    assert err[1:4] == [
        "  --gateway-secret: no secret_ref (give one, or --generate to make one)",
        "  broker user 'gps-001': environment variable 'GPS_001_KEY' is not set or empty",
        "  broker user 'gps-002': no secret_ref (give one, or --generate to make one)",
    ]
    assert len(err) == 1 + 1 + 10  # the gateway, ten terminals; jane's file is there
    assert not out.exists()


def test_site_file_takes_secret_ref_only_as_env_or_file_and_only_on_gps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data: dict[str, Any] = yaml.load(WUHAN_SITE.read_bytes(), SiteYamlLoader)
    devices = data["sites"][0]["devices"]
    devices[0]["secret_ref"] = "GPS_001_KEY"
    devices.append({"id": "zk-1", "kind": "clock_in", "sn": "ZK1", "secret_ref": "env:ZK"})
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert main(["site", "check", str(path)]) == 1
    assert main(["broker-config", str(path), "--out", str(tmp_path / "b"), "--generate"]) == 1
    err = capsys.readouterr().err
    assert err.count("secret_ref: String should match pattern") == 2
    devices[0]["secret_ref"] = "env:GPS_001_KEY"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert main(["site", "check", str(path)]) == 1
    assert "secret_ref: only a GPS terminal has a broker account" in capsys.readouterr().err


def test_one_user_name_is_one_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GPS_001_KEY", GPS_001_PASSWORD)
    data: dict[str, Any] = yaml.load(WUHAN_SITE.read_bytes(), SiteYamlLoader)
    data["sites"][0]["devices"] += [
        {"id": "jane/nokia", "kind": "gps"},
        {"id": "jane/ipad", "kind": "gps"},
        {"id": "guard-gateway", "kind": "gps"},
    ]
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "b"
    assert main(["broker-config", str(path), "--out", str(out), "--generate"]) == 1
    assert capsys.readouterr().err.splitlines()[1:] == [
        "  device 'jane/ipad': broker user 'jane' is taken by device 'jane/nokia'",
        "  device 'guard-gateway': broker user 'guard-gateway' is taken by the gateway",
    ]


def test_a_partition_client_of_a_partitioned_gateway_has_the_gateways_rights(
    broker: int, generated: tuple[Path, dict[str, str]]
) -> None:
    """``--partitions 2``: ``guard-gateway-p01`` logs in with the gateway's password, reads a
    terminal's topic (``gateway.cluster`` subscribes it to its own devices') and answers it."""
    _, passwords = generated
    partition = _Client(broker, "guard-gateway-p01", passwords["guard-gateway-p01"])
    gps1 = _Client(broker, "gps-001", passwords["gps-001"])
    try:
        assert partition.subscribe("devices/gps-001/json", "jt808/+/gps-001/up") == [1, 1]
        gps1.subscribe("devices/gps-001/jt808/down")
        gps1.publish("devices/gps-001/json", b"fix")
        assert partition.drain_until(b"fix") == [("devices/gps-001/json", b"fix")]
        partition.publish("devices/gps-001/jt808/down", b"reply")
        assert gps1.drain_until(b"reply") == [("devices/gps-001/jt808/down", b"reply")]
    finally:
        partition.close()
        gps1.close()
