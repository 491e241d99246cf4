"""MQTT ingest in a process of its own: paho's network loop off the pipeline's interpreter lock.

paho-mqtt is pure Python: reading, parsing and acknowledging a QoS-1 message costs about 50 µs
of interpreter time, and in the gateway's process that time is taken under the same lock as the
pipeline's decoding, rules and writes, so the two add up on one core. ``IngestProcess`` runs an
``MqttIngest`` in a child (``python -m drivers.mqtt.ingest_child``) and talks to it over its
standard input and output (``drivers.mqtt.frames``): the child sends what paho received in
batches, the gateway sends back the acknowledgements of what it committed and the replies it
publishes. Reading a batch costs the gateway a few µs a message.

Nothing changes for durability: the child acknowledges a message only when the gateway says so,
after its commit, and only on the connection it came on (``MqttIngest``'s rule). Each child is
a *generation*; a message's ``connection`` carries both (``generation << 20 | connection``), so
an acknowledgement for a message read by an earlier child, whose packet id the broker may have
given since to another message, is skipped (``stale_acks``): the broker delivers that message
again to the new child, whose copy is acknowledged instead.

Lifetimes: a child that ends unasked (killed, crashed) is logged and started again after a
back-off, under the same client id, so the broker hands it what the dead one had not
acknowledged (``process_restarts`` counts these). The gateway's own death closes the child's
standard input, and the child disconnects and ends without acknowledging anything more.
``stop()`` asks the child to stop, takes its last counters, and waits for it.

A reply handed to ``publish`` while no child runs (between a crash and the restart) is counted in
``publish_failed`` and logged, not kept: the terminal sends again what it sees unanswered.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from typing import Any

from drivers.mqtt.child_process import restart_grace_s, spawn_child, wait_or_kill
from drivers.mqtt.frames import FrameError, read_frame, write_frame
from drivers.mqtt.handoff import HandoffLoop
from drivers.mqtt.ingest_types import (
    Delivery,
    IngestStats,
    MqttMessage,
    TlsOptions,
    check_options,
)
from drivers.mqtt.url import parse_broker_url
from gateway.clock import Clock
from gateway.errors import TransportError

__all__ = ["IngestProcess"]

logger = logging.getLogger(__name__)

CONNECTION_BITS = 20
"""A message's ``connection`` is ``generation << CONNECTION_BITS | the child's connection``."""
_CONNECTION_MASK = (1 << CONNECTION_BITS) - 1
SILENT_CHILD_S = 5.0
"""A child that sent nothing for this long while the gateway waited for it (it sends its counters
every second: ``ingest_child.HEARTBEAT_S``) counts as not connected: it is wedged."""
STOP_WAIT_S = 10.0
"""How long ``stop()`` waits for the child to end before killing it."""
_NO_STATS = IngestStats(messages=0, dropped=0, reconnects=0, connected=False, last_error=None)


class IngestProcess:
    """An ``MqttIngest`` run in a child process; the same contract (``drivers.mqtt.Ingest``).

    The arguments are ``MqttIngest``'s (checked the same way, here, before any child starts),
    plus ``buffer``: how many received messages may wait in the child for the gateway to read
    them before the child stops reading from the broker; and ``restart_s``: the first pause
    before a child that ended unasked is replaced (doubling up to a minute while children end
    without connecting). ``handoff`` is called on this object's reader thread with messages
    whose ``received_at`` is this process's clock at the reading of their batch.
    """

    command: tuple[str, ...] = (sys.executable, "-m", "drivers.mqtt.ingest_child")
    """The child's command line."""

    def __init__(
        self,
        address: str,
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
        buffer: int = 10_000,
        restart_s: float = 1.0,
    ) -> None:
        broker = parse_broker_url(address)
        if tls is None and broker.tls:
            tls = TlsOptions()
        check_options(
            broker, client_id, topic_filters, qos, (reconnect_min_s, reconnect_max_s), tls
        )
        self._config: dict[str, Any] = {
            "url": address,
            "client_id": client_id,
            "filters": list(topic_filters),
            "username": username,
            "password": password,
            "tls": None if tls is None else asdict(tls),
            "qos": qos,
            "reconnect_s": (reconnect_min_s, reconnect_max_s),
            "keepalive_s": keepalive_s,
            "buffer": buffer,
        }
        self._client_id = client_id
        self._clock = clock
        self._restart_s = restart_s
        self._lock = threading.Lock()  # start/stop
        # Taken to send a frame and to change child: a frame goes to the child it was meant for.
        self._child_lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._generation = 0
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()
        # On the reader thread only; a full pipeline queue is told in the log, as MqttIngest does.
        self._offers = HandoffLoop(handoff, self._stopping, warn_as=client_id)
        self._connected = threading.Event()
        self._child_stats = _NO_STATS
        self._past = _NO_STATS  # summed counters of the children that ended
        self._stale = self._unsent_publishes = self._restarts = 0
        self._last_exit: str | None = None
        self._children_connected = 0  # children that connected at least once
        # time.monotonic() since when the reader waits for the child's next frame (a pacing).
        self._waiting_since: float | None = None

    @property
    def connected(self) -> bool:
        """Whether a child runs, connected, its subscriptions acknowledged, and answers (see
        ``SILENT_CHILD_S``)."""
        waiting_since = self._waiting_since
        if waiting_since is not None and time.monotonic() - waiting_since > SILENT_CHILD_S:
            return False
        return self._connected.is_set()

    @property
    def process_id(self) -> int | None:
        """The running child's process id; ``None`` while none runs."""
        child = self._child
        return None if child is None else child.pid

    @property
    def stats(self) -> IngestStats:
        """Counters since construction, summed over the children (see ``IngestStats``)."""
        child, past = self._child_stats, self._past
        return IngestStats(
            messages=self._offers.taken,
            dropped=self._offers.dropped,
            # Every connection after the first, as one client counts them: a later child's
            # first connection is a reconnection too.
            reconnects=past.reconnects + child.reconnects + max(0, self._children_connected - 1),
            connected=self.connected,
            last_error=child.last_error if child.last_error is not None else self._last_exit,
            published=past.published + child.published,
            publish_failed=past.publish_failed + child.publish_failed + self._unsent_publishes,
            acknowledged=past.acknowledged + child.acknowledged,
            stale_acks=past.stale_acks + child.stale_acks + self._stale,
            backpressure=past.backpressure + child.backpressure + self._offers.waits,
            process_restarts=self._restarts,
        )

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until ``connected`` or ``timeout_s`` passes."""
        return self._connected.wait(timeout_s)

    def start(self) -> None:
        """Start the child and the thread reading it; no-op if already started."""
        with self._lock:
            if self._supervisor is not None:
                return
            self._stopping.clear()
            self._spawn()
            self._supervisor = threading.Thread(
                target=self._supervise, name="mqtt-ingest-reader", daemon=True
            )
            self._supervisor.start()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Hand one message to the child's paho client; thread-safe. Raises
        :class:`TransportError` when not started (see the module docstring for a child that
        is being replaced)."""
        if self._supervisor is None:
            raise TransportError(f"MQTT client {self._client_id!r} is not started")
        if not self._send(("publish", topic, payload, qos)):
            self._unsent_publishes += 1
            logger.warning("MQTT publish to %r not sent: the ingest process is not running", topic)

    def acknowledge(self, messages: Iterable[Delivery]) -> int:
        """Have the child acknowledge these messages, in order (``MqttIngest.acknowledge``).
        Those read by an earlier child, or on a connection before the child's latest, are
        skipped and counted in ``stale_acks``. Returns how many were passed to the child (which
        skips, and counts, those of a connection it lost since its latest frame)."""
        rows: list[tuple[int, int, int]] = []
        stale = 0
        with self._child_lock:
            generation = self._generation if self._child is not None else -1
            # The child's connection as of its latest frame, which came before or with any
            # message of that connection: an older one's acknowledgement would be skipped there.
            current = (generation << CONNECTION_BITS) | (self._child_stats.reconnects + 1)
            for message in messages:
                if message.qos == 0:
                    continue
                if message.connection != current:
                    stale += 1
                    continue
                rows.append((message.mid, message.qos, message.connection & _CONNECTION_MASK))
            if rows and not self._send_locked(("ack", rows)):
                stale, rows = stale + len(rows), []
        self._stale += stale
        return len(rows)

    def stop(self) -> None:
        """Ask the child to stop, wait for it (killed after ``STOP_WAIT_S``) and for the
        reader; no-op if not started. Messages read and not acknowledged stay in the broker's
        session."""
        with self._lock:
            supervisor = self._supervisor
            if supervisor is None:
                return
            # Set under the lock a restart takes, so no child is started after this.
            self._stopping.set()
            self._supervisor = None
            with self._child_lock:
                child = self._child
                if child is not None:
                    self._send_locked(("stop",))
        if child is not None:
            wait_or_kill(child, STOP_WAIT_S)
        supervisor.join(STOP_WAIT_S)
        self._connected.clear()
        logger.info("MQTT ingest %r stopped", self._client_id)

    # -- the child ------------------------------------------------------------------------

    def _spawn(self) -> None:
        child = spawn_child(self.command)
        with self._child_lock:
            self._generation += 1
            self._child = child
            self._child_stats = _NO_STATS
            self._send_locked(("config", self._config))
        logger.info(
            "MQTT ingest %r: process %d reading the broker (generation %d)",
            self._client_id,
            child.pid,
            self._generation,
        )

    def _supervise(self) -> None:
        """Read the current child until it ends; replace it unless stopping."""
        delay = self._restart_s
        while True:
            child, generation = self._child, self._generation
            assert child is not None and child.stdout is not None
            connected = self._read(child.stdout, generation)
            code = child.wait()
            child.stdout.close()
            with self._child_lock:
                self._child = None
                self._past = self._past.plus(self._child_stats)
                self._child_stats = _NO_STATS
            self._connected.clear()
            # Ended by a signal sent to the whole group: the gateway's stop may be on its way.
            if self._stopping.wait(restart_grace_s(code)):
                return
            self._last_exit = f"ingest process {child.pid} ended with code {code}"
            delay = self._restart_s if connected else min(delay * 2, 60.0)
            logger.error(
                "MQTT ingest %r: %s; another starts in %.0f s",
                self._client_id,
                self._last_exit,
                delay,
            )
            while not self._stopping.wait(delay):
                with self._lock:
                    if self._stopping.is_set():
                        return
                    try:
                        self._spawn()
                    except OSError as exc:  # no interpreter to start (moved, out of processes)
                        self._last_exit = f"ingest process not started: {exc}"
                        delay = min(delay * 2, 60.0)
                        logger.error("MQTT ingest %r: %s", self._client_id, self._last_exit)
                        continue
                    self._restarts += 1
                    break
            else:
                return

    def _read(self, stream: Any, generation: int) -> bool:
        """Hand off the child's messages until its output ends; whether it was ever connected.
        Once stopping, messages are read and dropped (not acknowledged: the broker keeps them)
        so a child writing its last frames never blocks on a full pipe."""
        base = generation << CONNECTION_BITS
        ever_connected = False
        try:
            while True:
                self._waiting_since = time.monotonic()
                frame = read_frame(stream)
                self._waiting_since = None
                if frame is None:
                    break
                kind = frame[0]
                if kind == "stats" or kind == "messages":
                    stats = IngestStats(**frame[-1])
                    self._child_stats = stats
                    # A message comes only on a connection, maybe before its SUBACK.
                    if (stats.connected or kind == "messages") and not ever_connected:
                        ever_connected = True
                        self._children_connected += 1
                        self._last_exit = None  # the end of an earlier child is past
                    if stats.connected and not self._stopping.is_set():
                        self._connected.set()
                    else:
                        self._connected.clear()
                if kind == "messages" and not self._stopping.is_set():
                    received_at = self._clock.now()
                    for topic, payload, qos, retain, mid, connection in frame[1]:
                        message = MqttMessage(
                            topic,
                            payload,
                            received_at,
                            qos,
                            retain,
                            mid=mid,
                            connection=base | connection,
                        )
                        if not self._offers.offer(message):
                            break
        except (FrameError, OSError, ValueError) as exc:
            logger.error(
                "MQTT ingest %r: output of the ingest process unreadable: %s", self._client_id, exc
            )
        return ever_connected

    def _send(self, frame: tuple[Any, ...]) -> bool:
        with self._child_lock:
            return self._send_locked(frame)

    def _send_locked(self, frame: tuple[Any, ...]) -> bool:
        """Write ``frame`` to the current child; False when there is none or its pipe closed."""
        child = self._child
        if child is None or child.stdin is None:
            return False
        try:
            write_frame(child.stdin, frame)
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True
