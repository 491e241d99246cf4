"""The MQTT ingest adapter: a paho-mqtt 2.x subscriber that only hands messages off.

Protocol choice: **MQTT 3.1.1 with ``clean_session=False``** (a persistent session under a fixed
client id). Every broker the terminals and JT/T 808 bridges use in the field speaks 3.1.1, and so
does the embedded amqtt fallback, which has no MQTT 5; a 3.1.1 persistent session already gives
what ingest needs: the broker keeps our subscriptions and queues QoS-1 messages while the gateway
is down, and delivers them when it reconnects. The session lives until the broker expires it
(mosquitto: ``persistent_client_expiration``, unlimited by default), which is the operator's
setting rather than ours.

Threading: paho runs its network loop in its own thread (``loop_start``). ``on_message`` builds an
``MqttMessage`` (topic, payload bytes, ``received_at`` from the injected clock, qos, retain, and
what acknowledging it takes: the packet id and the connection it came on) and calls ``handoff``,
nothing else: no decoding and no database work happen on paho's thread, because while
``on_message`` runs nothing else is read from the socket (about 15k msg/s must pass through it).

Back-pressure: ``handoff`` may raise ``queue.Full``, and the message is offered again until it is
taken or ``stop()`` is called (``drivers.mqtt.handoff``): meanwhile paho reads nothing. Reading
nothing also means sending no PINGREQ: if the queue stays full for 1.5 keep-alive intervals the
broker drops the connection, and the reconnection redelivers what was not acknowledged.

Durability: the client runs in paho's ``manual_ack`` mode, so receiving a QoS-1 message sends no
PUBACK. The consumer calls :meth:`MqttIngest.acknowledge` once the message's fate is final (the
pipeline: once the batch holding it is committed, or the message was dropped for good), and only
then does the broker forget it. A crash or kill before that leaves the message in the broker's
session, which delivers it again (``dup`` set) after the reconnection; the pipeline's duplicate
filter absorbs such copies, and the store's uniqueness on (device, fix time) those the filter no
longer remembers (after a restart of the gateway, or a broker that restored an older copy of the
session after a crash). QoS 2 gets no such guarantee: paho answers PUBREC on receipt, which hands
the message over; the gateway subscribes with QoS 1.

Acknowledging from another thread is safe, and an acknowledgement goes out only on the connection
its message came on (``drivers.mqtt.connection_acks``): one held over from an earlier connection is
skipped and counted in ``stale_acks``, and the broker redelivers that message.

Flow control: the broker sends at most its ``max_inflight_messages`` unacknowledged QoS-1
messages to us and queues the rest (``max_queued_messages``); MQTT 3.1.1 has no receive maximum a
client could announce, so that setting is the operator's, and it caps what one commit can take in
(docs/device-contract.md gives the measured rates). mosquitto 2.0.11 honours it only until the
first PUBACK, after which each PUBACK may let up to a window more through (its issue 2301): the
hard bound on memory is the pipeline's bounded queue, with the back-pressure above. paho's own
``max_inflight_messages``/``max_queued_messages`` govern only what this client publishes (the
replies owed to terminals, :meth:`MqttIngest.publish`), so paho's defaults are kept.

Publishing: ``publish`` hands a message to paho and returns; paho sends it from its network
thread and retries it until the broker acknowledges (QoS 1). While the connection is down, a
QoS-1 message waits in paho's queue and goes out after the reconnection; it is lost only if the
process ends first (the terminal then resends what it sees unanswered).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from drivers.mqtt.connection_acks import ConnectionAcks
from drivers.mqtt.drain import drain_acknowledgements
from drivers.mqtt.handoff import HandoffLoop
from drivers.mqtt.ingest_types import (
    Delivery,
    IngestStats,
    MqttMessage,
    TlsOptions,
    check_options,
)
from drivers.mqtt.url import BrokerAddress, parse_broker_url
from gateway.clock import Clock
from gateway.errors import TransportError

__all__ = ["IngestStats", "MqttIngest", "MqttMessage", "TlsOptions"]

logger = logging.getLogger(__name__)


class MqttIngest:
    """Subscribe to ``topic_filters`` on a broker and hand every message to ``handoff``.

    Nothing is acknowledged to the broker until the consumer calls :meth:`acknowledge` (see the
    module docstring); ``handoff`` may raise ``queue.Full`` to push back.

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
        check_options(
            self._address, client_id, topic_filters, qos, (reconnect_min_s, reconnect_max_s), tls
        )
        self._client_id = client_id
        self._filters = list(topic_filters)
        self._clock = clock
        self._username = username if username is not None else self._address.username
        self._password = password if password is not None else self._address.password
        self._tls = tls if tls is not None else (TlsOptions() if self._address.tls else None)
        self._qos = qos
        self._reconnect = (reconnect_min_s, reconnect_max_s)
        self._keepalive_s = keepalive_s
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()
        # An ack is sent only on the connection its message came on (see the module docstring).
        self._acks = ConnectionAcks()
        self._stopping = threading.Event()
        self._connected_event = threading.Event()
        # Counters are written only on paho's thread; readers get a slightly stale value at worst.
        self._offers = HandoffLoop(handoff, self._stopping, warn_as=client_id)
        self._published = 0  # written by publish()'s caller (the pipeline thread) only
        self._publish_failed = 0
        self._last_error: str | None = None

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
            messages=self._offers.taken,
            dropped=self._offers.dropped,
            reconnects=max(0, self._acks.connection - 1),
            connected=self.connected,
            last_error=self._last_error,
            published=self._published,
            publish_failed=self._publish_failed,
            acknowledged=self._acks.acknowledged,
            stale_acks=self._acks.stale,
            backpressure=self._offers.waits,
        )

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until ``connected`` (subscriptions acknowledged) or ``timeout_s`` passes."""
        return self._connected_event.wait(timeout_s)

    def start(self) -> None:
        """Create the client and start its network thread; no-op if already started."""
        with self._lock:
            if self._client is not None:
                return
            self._stopping.clear()
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=self._client_id,
                clean_session=False,
                protocol=MQTTProtocolVersion.MQTTv311,
                manual_ack=True,
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
            client.on_connect_fail = self._on_connect_fail
            client.on_disconnect = self._on_disconnect
            client.on_subscribe = self._on_subscribe
            client.on_message = self._on_message
            client.connect_async(self._address.host, self._address.port, self._keepalive_s)
            client.loop_start()
            self._client = client
            self._acks.attach(client)
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

    def acknowledge(self, messages: Iterable[Delivery]) -> int:
        """Send the PUBACK of each QoS-1 (or PUBCOMP of each QoS-2) message, in the order given.

        Thread-safe (see the module docstring). Call it only once a message's fate is final: the
        broker then forgets it. A message that came on an earlier connection, or any message
        while the adapter is stopped or disconnected, is skipped and counted in ``stale_acks``:
        the broker delivers it again. QoS-0 messages need nothing. Returns the number sent.
        """
        return self._acks.acknowledge(messages)

    def stop(self) -> None:
        """Disconnect cleanly and join paho's thread; no-op if not started.

        A handoff waiting for room is abandoned (its message is not acknowledged, so the broker
        delivers it again at the next start). The acknowledgements sent before are read by the
        broker before the disconnection (``drivers.mqtt.drain``).
        """
        self._stopping.set()
        with self._lock:
            client, self._client = self._client, None
            self._acks.detach()
        if client is None:
            return
        drain_acknowledgements(client)
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
        if self._acks.session_opened() > 1 and not flags.session_present:
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
        logger.info(
            "MQTT ingest %r connected to %s (session present: %s)",
            self._client_id,
            self._address.url,
            flags.session_present,
        )

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this from the handler of the OSError that failed the attempt (refused,
        # unreachable, a certificate not trusted), so the reason is the exception being handled.
        reason = sys.exc_info()[1]
        error = f"cannot connect to {self._address.url}: {reason or 'connection failed'}"
        if error != self._last_error:
            logger.warning("MQTT ingest %r: %s (retrying with back-off)", self._client_id, error)
        self._last_error = error

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        was_up = self._acks.session_closed()
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
        received = MqttMessage(
            message.topic,
            # paho hands a bytearray slice; records are immutable.
            bytes(message.payload),
            self._clock.now(),
            message.qos,
            bool(message.retain),
            mid=message.mid,
            connection=self._acks.connection,
        )
        # Abandoned only once stopping: not acknowledged, the broker delivers it again.
        self._offers.offer(received)
