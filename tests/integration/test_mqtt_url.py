"""Broker URLs: what is accepted, what each part becomes, and the errors for everything else."""

from __future__ import annotations

import pytest

from drivers.mqtt.url import BrokerAddress, parse_broker_url
from gateway.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1", BrokerAddress("127.0.0.1", 1883)),
        ("mqtt://broker.local:1884", BrokerAddress("broker.local", 1884)),
        ("MQTT://Broker:1883/", BrokerAddress("broker", 1883)),
        ("mqtts://broker", BrokerAddress("broker", 8883, tls=True)),
        ("mqtts://broker:443", BrokerAddress("broker", 443, tls=True)),
        ("mqtt://[::1]:1883", BrokerAddress("::1", 1883)),
        ("mqtt://gw@h", BrokerAddress("h", 1883, username="gw")),
        (
            "mqtt://gw:p%40ss%3Aword@h:1",
            BrokerAddress("h", 1, username="gw", password="p@ss:word"),
        ),
    ],
)
def test_accepted_broker_urls(url: str, expected: BrokerAddress) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        ("tcp://broker:1883", "expected mqtt:// or mqtts://"),
        ("ws://broker", "expected mqtt:// or mqtts://"),
        ("broker:1883", "expected mqtt:// or mqtts://"),
        ("mqtt://", "no host"),
        ("mqtt://:1883", "no host"),
        ("mqtt://broker:99999", "malformed"),
        ("mqtt://broker:port", "malformed"),
        ("mqtt://broker:0", "port 0"),
        ("mqtt://broker/devices", "path"),
        ("mqtt://broker?x=1", "query"),
        ("mqtt://:pw@broker", "empty user name"),
    ],
)
def test_refused_broker_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        parse_broker_url(url)


def test_password_is_kept_out_of_repr_and_url() -> None:
    address = parse_broker_url("mqtts://gw:topsecret@broker:8884")
    assert "topsecret" not in repr(address)
    assert address.url == "mqtts://broker:8884"
    assert address.password == "topsecret"
