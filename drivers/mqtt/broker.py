"""Private MQTT brokers on 127.0.0.1 for tests, benchmarks and the demo, and a local-broker probe.

``start_broker`` runs the ``mosquitto`` binary when it is on ``PATH`` (the production broker, so
tests exercise the real thing) and otherwise an embedded amqtt broker in its own thread. Either
way the caller gets a ``RunningBroker`` that listens on loopback only, can be restarted on the same
port (to test reconnects) and is stopped with ``stop()`` or by leaving a ``with`` block.

What differs between the two kinds (callers that depend on it should ask for ``kind``):

* mosquitto keeps sessions across ``restart()`` (persistence on, saved at the clean shutdown and
  every second), and across ``kill()`` (SIGKILL) and ``start()`` what was saved before the kill;
  it supports ``users`` (a password file) and ``max_inflight`` (its ``max_inflight_messages``,
  default ``MAX_INFLIGHT_MESSAGES``). amqtt keeps nothing across a restart, does not keep the
  session of an anonymous client once it disconnects, and refuses ``users`` and ``max_inflight``.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from typing import Literal

from drivers.mqtt._amqtt_broker import AmqttBroker
from drivers.mqtt._mosquitto import MAX_INFLIGHT_MESSAGES, MosquittoBroker
from drivers.mqtt._probe import connack_code
from drivers.mqtt._running import RunningBroker, free_port
from drivers.mqtt.url import parse_broker_url
from gateway.errors import ConfigError

__all__ = [
    "MAX_INFLIGHT_MESSAGES",
    "BrokerKind",
    "RunningBroker",
    "find_local_broker",
    "free_port",
    "start_broker",
]

logger = logging.getLogger(__name__)

BrokerKind = Literal["auto", "mosquitto", "amqtt"]


def start_broker(
    port: int | None = None,
    *,
    kind: BrokerKind = "auto",
    users: Mapping[str, str] | None = None,
    startup_timeout_s: float = 10.0,
    max_inflight: int | None = None,
) -> RunningBroker:
    """Start a private broker on ``127.0.0.1:port`` (a free port when ``None``) and return it.

    Returns only once the broker answers an MQTT CONNECT on its port; raises ``TransportError``
    (with the broker's log) when it does not within ``startup_timeout_s``. ``kind="auto"`` picks
    mosquitto when its binary is on ``PATH`` and amqtt otherwise. ``users`` (name → password)
    turns anonymous access off; only mosquitto supports it (``ConfigError`` for amqtt), as it
    does ``max_inflight`` (its in-flight window per client; ``None``: ``MAX_INFLIGHT_MESSAGES``).
    """
    chosen = kind
    if chosen == "auto":
        chosen = "mosquitto" if shutil.which("mosquitto") else "amqtt"
    listen_port = port if port is not None else free_port()
    if chosen == "mosquitto":
        binary = shutil.which("mosquitto")
        if binary is None:
            raise ConfigError("kind='mosquitto' asked for, but no mosquitto binary is on PATH")
        broker: RunningBroker = MosquittoBroker(
            binary,
            listen_port,
            users,
            startup_timeout_s,
            MAX_INFLIGHT_MESSAGES if max_inflight is None else max_inflight,
        )
    elif chosen == "amqtt":
        if users:
            raise ConfigError("the embedded amqtt broker does not support password users")
        if max_inflight is not None:
            raise ConfigError("the embedded amqtt broker has no in-flight window to set")
        broker = AmqttBroker(listen_port, startup_timeout_s)
    else:
        raise ConfigError(f"unknown broker kind {kind!r}; expected auto, mosquitto or amqtt")
    broker.start()
    logger.info("started a private %s broker at %s", broker.kind, broker.url)
    return broker


def find_local_broker(url: str = "mqtt://127.0.0.1:1883", timeout: float = 1.0) -> bool:
    """Whether an MQTT broker at ``url`` accepts a connection (TCP, then MQTT CONNECT/CONNACK).

    True only for a CONNACK with return code 0 (accepted), so a port held by something else, or
    a broker refusing the URL's credentials, gives False. ``mqtts://`` is probed with the
    system's default TLS context. Never raises for an unreachable broker; a malformed URL raises
    ``ConfigError``.
    """
    address = parse_broker_url(url)
    return connack_code(address, timeout) == 0
