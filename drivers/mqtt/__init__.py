"""MQTT: broker URLs, the ingest adapter (paho-mqtt) and private brokers for tests and demos.

The private brokers (``start_broker``, ``find_local_broker``, ``RunningBroker``) are imported on
first use: the MQTT ingest process (``drivers.mqtt.ingest_child``) imports this package and
needs none of them (the embedded broker's module brings asyncio: 2 MB and about 12 ms of its
65-ms import, at every start).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from drivers.mqtt.ingest import IngestStats, MqttIngest, MqttMessage, TlsOptions
from drivers.mqtt.url import BrokerAddress, parse_broker_url

if TYPE_CHECKING:
    from drivers.mqtt.broker import RunningBroker, find_local_broker, start_broker

__all__ = [
    "BrokerAddress",
    "IngestStats",
    "MqttIngest",
    "MqttMessage",
    "RunningBroker",
    "TlsOptions",
    "find_local_broker",
    "parse_broker_url",
    "start_broker",
]

_FROM_BROKER = frozenset({"RunningBroker", "find_local_broker", "start_broker"})


def __getattr__(name: str) -> Any:
    if name in _FROM_BROKER:
        return getattr(import_module("drivers.mqtt.broker"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
