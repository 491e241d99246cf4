"""The MQTT ingest adapter: a paho-mqtt 2.x subscriber that only hands messages off.

Protocol choice: **MQTT 3.1.1 with ``clean_session=False``** (a persistent session under a fixed
client id). Every broker the terminals and JT/T 808 bridges use in the field speaks 3.1.1, and so
does the embedded amqtt fallback, which has no MQTT 5; a 3.1.1 persistent session already gives
what ingest needs: the broker keeps our subscriptions and queues QoS-1 messages while the gateway
is down, and delivers them when it reconnects. The session lives until the broker expires it
(mosquitto: ``persistent_client_expiration``, unlimited by default), which is the operator's
setting rather than ours.

Threading: paho runs its network loop in its own thread (``loop_start``). ``on_message`` builds an
``MqttMessage`` (topic, payload bytes, ``received_at`` from the injected clock, qos, retain) and
calls ``handoff``, nothing else: no decoding and no database work happen on paho's thread, because
while ``on_message`` runs nothing else is read from the socket (about 15k msg/s must pass through
it). ``handoff`` is expected to put the message on a queue and return at once. If it raises (a
full queue, a bug), the message is counted as dropped and logged, and the client goes on.

Durability: paho acknowledges a QoS-1 message (PUBACK) as soon as ``on_message`` returns, and the
broker then forgets it. From that moment until the pipeline commits the batch holding it, the
message exists only in this process's memory: a crash or kill in that window loses the messages
handed off but not yet committed (at most the queue's contents plus one uncommitted batch), and
so does a handoff that raises. A clean shutdown must therefore drain the queue and commit before
exiting. Messages not yet acknowledged when the connection drops are redelivered by the broker
(``dup`` set); the pipeline's duplicate filter absorbs those, and the store's uniqueness on
(device, fix time) those the filter no longer remembers (after a restart of the gateway, or a
broker that restored an older copy of the session after a crash).

Flow control under bursts is the broker's: it sends at most its ``max_inflight_messages``
unacknowledged QoS-1 messages to us and queues the rest (``max_queued_messages``). paho's
``max_inflight_messages``/``max_queued_messages`` govern only what this client publishes: the
few replies owed to terminals (:meth:`MqttIngest.publish`), so paho's defaults are kept (20 in
flight, the rest queued without limit).

Publishing: ``publish`` hands a message to paho and returns; paho sends it from its network
thread and retries it until the broker acknowledges (QoS 1). While the connection is down, a
QoS-1 message waits in paho's queue and goes out after the reconnection; it is lost only if the
process ends first (the terminal then resends what it sees unanswered).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from drivers.mqtt.url import BrokerAddress, parse_broker_url
from gateway.clock import Clock
from gateway.errors import ConfigError, TransportError

__all__ = ["IngestStats", "MqttIngest", "MqttMessage", "TlsOptions"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MqttMessage:
    """One message as received: ``received_at`` comes from the gateway's clock at arrival."""

    topic: str
    payload: bytes
    received_at: datetime
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """Files for ``mqtts://``: CA bundle (``None``: the system's), client certificate and key."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True, slots=True)
class IngestStats:
    """A snapshot of the adapter's counters.

    ``messages``: handed off successfully; ``dropped``: the handoff raised; ``reconnects``:
    successful connections after the first; ``last_error``: the latest refusal or connection loss
    in words (``None`` while none happened since the last successful connection);
    ``published``: messages handed to paho by ``publish``; ``publish_failed``: refused by paho.
    """

    messages: int
    dropped: int
    reconnects: int
    connected: bool
    last_error: str | None
    published: int = 0
    publish_failed: int = 0


class MqttIngest:
    """Subscribe to ``topic_filters`` on a broker and hand every message to ``handoff``.

    ``start()`` returns at once; connecting (and reconnecting with exponential back-off between
    ``reconnect_min_s`` and ``reconnect_max_s`` seconds) happens on paho's thread, so an
    unreachable broker or refused credentials never raise from here: they show in ``connected``
    and ``stats.last_error`` and are logged. Subscriptions are (re)made on every connection.
    ``stop()`` disconnects and joins the thread; the broker keeps the session, so messages
    published until the next ``start()`` with the same ``client_id`` are delivered then.
    ``username``/``password`` default to those in the URL.
    """

    def __init__(
        self,
        address: BrokerAddress | str,
        *,
        client_id: str,
        topic_filters: Sequence[str],
        handoff: Callable[[MqttMessage], None],
        clock: Clock,
        username: str | None = None,
        password: str | None = None,
        tls: TlsOptions | None = None,
        qos: int = 1,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 60,
        keepalive_s: int = 30,
    ) -> None:
        self._address = parse_broker_url(address) if isinstance(address, str) else address
        if not client_id:
            raise ConfigError(
                "an MQTT client id is required: the persistent session is keyed by it"
            )
        if not topic_filters or any(not f for f in topic_filters):
            raise ConfigError(f"topic filters must be non-empty strings: {list(topic_filters)!r}")
        if qos not in (0, 1, 2):
            raise ConfigError(f"qos must be 0, 1 or 2, not {qos!r}")
        if not 0 < reconnect_min_s <= reconnect_max_s:
            raise ConfigError(
                f"need 0 < reconnect_min_s <= reconnect_max_s, got {reconnect_min_s}, "
                f"{reconnect_max_s}"
            )
        if tls is not None and not self._address.tls:
            raise ConfigError(f"TLS options given for {self._address.url}; use mqtts://")
        self._client_id = client_id
        self._filters = list(topic_filters)
        self._handoff = handoff
        self._clock = clock
        self._username = username if username is not None else self._address.username
        self._password = password if password is not None else self._address.password
        self._tls = tls if tls is not None else (TlsOptions() if self._address.tls else None)
        self._qos = qos
        self._reconnect = (reconnect_min_s, reconnect_max_s)
        self._keepalive_s = keepalive_s
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()
        self._connected_event = threading.Event()
        # Counters are written only on paho's thread; readers get a slightly stale value at worst.
        self._messages = 0
        self._dropped = 0
        self._connects = 0
        self._published = 0  # written by publish()'s caller (the pipeline thread) only
        self._publish_failed = 0
        self._last_error: str | None = None
        self._session_up = False  # CONNACK accepted, connection not lost since

    @property
    def connected(self) -> bool:
        """Whether we are connected and the broker has answered our subscriptions.

        A refused subscription still counts as connected; it shows in ``stats.last_error``.
        """
        return self._connected_event.is_set()

    @property
    def stats(self) -> IngestStats:
        """Counters since construction (they survive ``stop()``/``start()``)."""
        return IngestStats(
            messages=self._messages,
            dropped=self._dropped,
            reconnects=max(0, self._connects - 1),
            connected=self.connected,
            last_error=self._last_error,
            published=self._published,
            publish_failed=self._publish_failed,
        )

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until ``connected`` (subscriptions acknowledged) or ``timeout_s`` passes."""
        return self._connected_event.wait(timeout_s)

    def start(self) -> None:
        """Create the client and start its network thread; no-op if already started."""
        with self._lock:
            if self._client is not None:
                return
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=self._client_id,
                clean_session=False,
                protocol=MQTTProtocolVersion.MQTTv311,
            )
            if self._username is not None:
                client.username_pw_set(self._username, self._password)
            if self._tls is not None:
                client.tls_set(
                    ca_certs=self._tls.ca_file,
                    certfile=self._tls.cert_file,
                    keyfile=self._tls.key_file,
                )
            client.reconnect_delay_set(*self._reconnect)
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_subscribe = self._on_subscribe
            client.on_message = self._on_message
            client.connect_async(self._address.host, self._address.port, self._keepalive_s)
            client.loop_start()
            self._client = client
            logger.info(
                "MQTT ingest %r connecting to %s for %s",
                self._client_id,
                self._address.url,
                self._filters,
            )

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Hand one message to paho and return (see the module docstring); thread-safe.

        Raises :class:`TransportError` when the adapter is not started, ``ValueError`` for a
        topic with wildcards. A message paho refuses (its queue full; QoS 0 while disconnected)
        is counted and logged.
        """
        client = self._client
        if client is None:
            raise TransportError(f"MQTT client {self._client_id!r} is not started")
        info = client.publish(topic, payload, qos=qos)
        # NO_CONN: paho keeps a QoS > 0 message and sends it once the connection is back.
        if info.rc == mqtt.MQTT_ERR_SUCCESS or (info.rc == mqtt.MQTT_ERR_NO_CONN and qos > 0):
            self._published += 1
            return
        self._publish_failed += 1
        logger.warning("MQTT publish to %r refused by the client: %s", topic, info.rc)

    def stop(self) -> None:
        """Disconnect cleanly and join paho's thread; no-op if not started."""
        with self._lock:
            client, self._client = self._client, None
        if client is None:
            return
        client.disconnect()
        client.loop_stop()
        self._connected_event.clear()
        logger.info("MQTT ingest %r stopped", self._client_id)

    # paho callbacks (paho's thread) ---------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            self._last_error = f"broker refused the connection: {reason_code}"
            logger.error(
                "MQTT broker %s refused %r: %s (retrying with back-off)",
                self._address.url,
                self._client_id,
                reason_code,
            )
            return
        self._connects += 1
        if self._connects > 1 and not flags.session_present:
            # The broker lost or expired our session: what was published while we were away
            # is gone. Worth a warning, since it is a gap in the evidence.
            logger.warning(
                "MQTT broker %s had no session for %r: messages sent while disconnected are lost",
                self._address.url,
                self._client_id,
            )
        # Readiness (``connected``) waits for the SUBACK: before it, messages are not routed to us.
        client.subscribe([(f, self._qos) for f in self._filters])
        self._last_error = None
        self._session_up = True
        logger.info(
            "MQTT ingest %r connected to %s (session present: %s)",
            self._client_id,
            self._address.url,
            flags.session_present,
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        was_up, self._session_up = self._session_up, False
        self._connected_event.clear()
        if reason_code.is_failure and was_up:
            self._last_error = f"connection lost: {reason_code}"
            logger.warning(
                "MQTT ingest %r lost %s: %s; reconnecting",
                self._client_id,
                self._address.url,
                reason_code,
            )

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        refused = [f for f, rc in zip(self._filters, reason_codes, strict=False) if rc.is_failure]
        if refused:
            self._last_error = f"broker refused the subscription to {refused}"
            logger.error("MQTT broker %s refused subscriptions %s", self._address.url, refused)
        self._connected_event.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._handoff(
                MqttMessage(
                    message.topic,
                    # paho hands a bytearray slice; records are immutable.
                    bytes(message.payload),
                    self._clock.now(),
                    message.qos,
                    bool(message.retain),
                )
            )
        except Exception:
            self._dropped += 1
            logger.exception("MQTT handoff failed; message on %r dropped", message.topic)
        else:
            self._messages += 1
