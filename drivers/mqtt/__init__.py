"""MQTT: broker URLs, the ingest adapter (paho-mqtt) and private brokers for tests and demos."""

from drivers.mqtt.broker import RunningBroker, find_local_broker, start_broker
from drivers.mqtt.ingest import IngestStats, MqttIngest, MqttMessage, TlsOptions
from drivers.mqtt.url import BrokerAddress, parse_broker_url

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
