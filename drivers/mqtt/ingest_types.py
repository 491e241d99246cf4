"""The values MQTT ingest hands out (messages as received, TLS file options, counters) and what
the gateway needs of an ingest."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from drivers.mqtt.url import BrokerAddress
from gateway.errors import ConfigError

__all__ = ["Delivery", "Ingest", "IngestStats", "MqttMessage", "TlsOptions", "check_options"]


@dataclass(frozen=True, slots=True)
class MqttMessage:
    """One message as received: ``received_at`` comes from the gateway's clock at arrival.

    ``mid`` (the broker's packet id; 0 for QoS 0) and ``connection`` (the number of the connection
    it arrived on) are what :meth:`MqttIngest.acknowledge` needs; they are delivery bookkeeping,
    not content, so they take no part in equality.
    """

    topic: str
    payload: bytes
    received_at: datetime
    qos: int
    retain: bool
    mid: int = field(default=0, compare=False)
    connection: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """Files for ``mqtts://``: CA bundle (``None``: the system's), client certificate and key."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True, slots=True)
class IngestStats:
    """A snapshot of the adapter's counters.

    ``messages``: handed off successfully; ``dropped``: the handoff raised (not acknowledged:
    the broker redelivers them after the next reconnection); ``reconnects``: successful
    connections after the first; ``last_error``: the latest refusal or connection loss in words
    (``None`` while none happened since the last successful connection); ``published``: messages
    handed to paho by ``publish``; ``publish_failed``: refused by paho; ``acknowledged``: PUBACKs
    sent by ``acknowledge``; ``stale_acks``: acknowledgements skipped because the message came on
    an earlier connection (or the adapter was stopped); ``backpressure``: offers the handoff
    refused with ``queue.Full``; ``process_restarts``: times the ingest process
    (``IngestProcess``) ended unasked and was started again (0 for ``MqttIngest``).
    """

    messages: int
    dropped: int
    reconnects: int
    connected: bool
    last_error: str | None
    published: int = 0
    publish_failed: int = 0
    acknowledged: int = 0
    stale_acks: int = 0
    backpressure: int = 0
    process_restarts: int = 0

    def plus(self, other: IngestStats) -> IngestStats:
        """These counters with ``other``'s added (an ended ingest process's to the earlier
        ones'); the state (``connected``, ``last_error``) and ``messages``, ``dropped`` and
        ``process_restarts``, which the gateway's side counts, stay this one's."""
        return replace(
            self,
            reconnects=self.reconnects + other.reconnects,
            published=self.published + other.published,
            publish_failed=self.publish_failed + other.publish_failed,
            acknowledged=self.acknowledged + other.acknowledged,
            stale_acks=self.stale_acks + other.stale_acks,
            backpressure=self.backpressure + other.backpressure,
        )


def check_options(
    address: BrokerAddress,
    client_id: str,
    topic_filters: Sequence[str],
    qos: int,
    reconnect_s: tuple[int, int],
    tls: TlsOptions | None,
) -> None:
    """Refuse, with ``ConfigError``, what ``MqttIngest`` cannot run with."""
    if not client_id:
        raise ConfigError("an MQTT client id is required: the persistent session is keyed by it")
    if not topic_filters or any(not f for f in topic_filters):
        raise ConfigError(f"topic filters must be non-empty strings: {list(topic_filters)!r}")
    if qos not in (0, 1, 2):
        raise ConfigError(f"qos must be 0, 1 or 2, not {qos!r}")
    low, high = reconnect_s
    if not 0 < low <= high:
        raise ConfigError(f"need 0 < reconnect_min_s <= reconnect_max_s, got {low}, {high}")
    if tls is not None and not address.tls:
        raise ConfigError(f"TLS options given for {address.url}; use mqtts://")


class Delivery(Protocol):
    """What acknowledging a received message takes: the broker's packet id, the QoS, and the
    number of the connection it came on (``MqttMessage`` has them)."""

    @property
    def mid(self) -> int: ...

    @property
    def qos(self) -> int: ...

    @property
    def connection(self) -> int: ...


class Ingest(Protocol):
    """An MQTT ingest as the gateway uses it: ``MqttIngest`` in the gateway's process, or
    ``IngestProcess`` running one in a process of its own. The contracts are ``MqttIngest``'s."""

    @property
    def connected(self) -> bool: ...

    @property
    def stats(self) -> IngestStats: ...

    def wait_connected(self, timeout_s: float) -> bool: ...

    def start(self) -> None: ...

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None: ...

    def acknowledge(self, messages: Iterable[Delivery]) -> int: ...

    def stop(self) -> None: ...
