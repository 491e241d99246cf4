"""Acknowledging received messages only on the connection they came on.

Acknowledging from another thread is safe: paho's ``ack`` only appends a PUBACK packet to the
client's outgoing deque (``collections.deque.append``, atomic) and wakes the network thread through
its socket pair, exactly as ``publish`` from another thread does; the network thread writes it.
Packet ids of received messages are the broker's, per session: after a reconnection the broker
re-sends every unacknowledged message (under its old id) and reuses freed ids for new messages,
so a PUBACK held over from an earlier connection could acknowledge a different, uncommitted
message. Every message therefore carries the number of the connection it arrived on, and an
acknowledgement for an earlier connection is skipped (counted in ``stale``): the broker
redelivers that message and its copy is acknowledged instead. The check and the ``ack`` happen
under a lock that ``session_closed`` (called from ``on_disconnect``) takes too, and paho clears
its outgoing packets only after ``on_disconnect`` (in ``reconnect``), so no PUBACK can slip from
one connection into the next. PUBACKs go out in the order ``acknowledge`` is called, which the
pipeline keeps equal to the order of arrival, as MQTT 3.1.1 (4.6) asks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import paho.mqtt.client as mqtt

from drivers.mqtt.ingest_types import Delivery

__all__ = ["ConnectionAcks"]


class ConnectionAcks:
    """The acknowledgements of one MQTT client, connection by connection (module docstring).

    ``connection`` is the number of connections the broker accepted so far (a message received
    on the latest carries it); ``acknowledged`` and ``stale`` count what :meth:`acknowledge`
    sent and skipped since construction. ``attach`` and ``detach`` give it the client while one
    runs; every method is thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._session_up = False  # CONNACK accepted, connection not lost since
        self.connection = 0
        self.acknowledged = 0
        self.stale = 0

    def attach(self, client: mqtt.Client) -> None:
        """Send the acknowledgements through ``client`` from now on."""
        with self._lock:
            self._client = client

    def detach(self) -> mqtt.Client | None:
        """Send none from now on; the client that was attached, if any."""
        with self._lock:
            client, self._client = self._client, None
        return client

    def session_opened(self) -> int:
        """The broker accepted a connection: its number, which its messages carry."""
        with self._lock:
            self.connection += 1
            self._session_up = True
            return self.connection

    def session_closed(self) -> bool:
        """The connection is lost or closed; whether it was up until now."""
        with self._lock:
            was_up, self._session_up = self._session_up, False
        return was_up

    def acknowledge(self, messages: Iterable[Delivery]) -> int:
        """Send the PUBACK of each QoS-1 (or PUBCOMP of each QoS-2) message, in the order given.

        A message that came on an earlier connection, or any message while no client is attached
        or the connection is down, is skipped and counted in ``stale``: the broker delivers it
        again. QoS-0 messages need nothing. Returns the number sent.
        """
        sent = stale = 0
        with self._lock:
            client = self._client
            for message in messages:
                if message.qos == 0:
                    continue
                if client is None or not self._session_up or message.connection != self.connection:
                    stale += 1
                    continue
                client.ack(message.mid, message.qos)
                sent += 1
            self.acknowledged += sent
            self.stale += stale
        return sent
