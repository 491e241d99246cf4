"""The MQTT ingest process: an ``MqttIngest`` whose messages go to the gateway over a pipe.

Started by :class:`drivers.mqtt.ingest_process.IngestProcess` as ``python -m
drivers.mqtt.ingest_child``; not a command for people. Standard input carries frames from the
gateway (``drivers.mqtt.frames``), the first being the configuration; standard output carries
frames to it. Logging goes to standard error, which the gateway's process shares.

From the gateway:

* ``("config", dict)``: once, first (see ``IngestProcess``);
* ``("ack", [(mid, qos, connection), ...])``: acknowledge these, in this order;
* ``("publish", topic, payload, qos)``;
* ``("stop",)``: disconnect, send the last counters, exit 0.

To the gateway:

* ``("messages", [(topic, payload, qos, retain, mid, connection), ...], stats)``: what paho
  received since the last frame, in arrival order, and the counters;
* ``("stats", stats)``: the counters, when they changed and nothing else was sent.

End of standard input (the gateway is gone, killed or not) is a stop without the last frame.
SIGTERM and SIGINT are ignored: sent to the whole process group (systemd stopping the unit,
Ctrl-C), they are the gateway's to act on, and it stops this process through the pipe.
The process acknowledges only what it is told to, so whatever the gateway had not committed
stays in the broker's session, as it does when the gateway's own process dies.

Messages wait in a buffer between paho's thread and the writer: when it holds ``buffer``
messages, the handoff refuses with ``queue.Full`` and ``MqttIngest`` stops reading from the
broker until there is room (its back-pressure), so a gateway that reads slowly holds the broker
back rather than this process's memory.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import asdict
from typing import IO, Any

from drivers.mqtt.frames import read_frame, write_frame
from drivers.mqtt.ingest import MqttIngest
from drivers.mqtt.ingest_types import IngestStats, MqttMessage, TlsOptions
from gateway.clock import SystemClock

__all__ = ["main"]

logger = logging.getLogger("drivers.mqtt.ingest_child")

STATS_EVERY_S = 0.05
"""How often the writer looks for changed counters while no message arrives (a pacing: a
connection shows as up in the gateway this long after its SUBACK at most)."""
HEARTBEAT_S = 1.0
"""The counters are sent at least this often, changed or not: the gateway takes a child silent
for much longer as wedged (``IngestProcess.connected``)."""

Row = tuple[str, bytes, int, bool, int, int]


class _Buffer:
    """Messages received and not yet written to the gateway, bounded."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._rows: list[Row] = []
        self._ready = threading.Condition()

    def put(self, message: MqttMessage) -> None:
        """Raises ``queue.Full`` when ``limit`` messages wait (see the module docstring)."""
        with self._ready:
            if len(self._rows) >= self._limit:
                raise queue.Full
            self._rows.append(
                (
                    message.topic,
                    message.payload,
                    message.qos,
                    message.retain,
                    message.mid,
                    message.connection,
                )
            )
            if len(self._rows) == 1:
                self._ready.notify()

    def take(self, timeout_s: float) -> list[Row]:
        """What waits, at once if anything does, else after ``timeout_s`` (maybe nothing)."""
        with self._ready:
            if not self._rows:
                self._ready.wait(timeout_s)
            rows, self._rows = self._rows, []
        return rows


class _Writer(threading.Thread):
    """Sends the buffer's messages, and changed counters, to the gateway until stopped."""

    def __init__(self, out: IO[bytes], buffer: _Buffer, ingest: MqttIngest) -> None:
        super().__init__(name="ingest-writer", daemon=True)
        self._out = out
        self._buffer = buffer
        self._ingest = ingest
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sent_stats: IngestStats | None = None
        self._sent_at = 0.0  # time.monotonic() of the last frame: a pacing
        self.broken = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                rows = self._buffer.take(STATS_EVERY_S)
                stats = self._ingest.stats
                now = time.monotonic()
                if rows:
                    self.send(("messages", rows, asdict(stats)))
                elif stats != self._sent_stats or now - self._sent_at >= HEARTBEAT_S:
                    self.send(("stats", asdict(stats)))
                else:
                    continue
                self._sent_stats, self._sent_at = stats, now
        except (BrokenPipeError, OSError, ValueError):
            # The gateway closed its end (it stopped, or died): nothing is left to tell it.
            self.broken.set()

    def send(self, frame: tuple[Any, ...]) -> None:
        with self._lock:
            write_frame(self._out, frame)

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def _ingest(config: dict[str, Any], buffer: _Buffer) -> MqttIngest:
    tls = config.get("tls")
    return MqttIngest(
        config["url"],
        client_id=config["client_id"],
        topic_filters=config["filters"],
        handoff=buffer.put,
        # Arrival time is stamped by the gateway, on its injected clock, when it reads the frame.
        clock=SystemClock(),
        username=config.get("username"),
        password=config.get("password"),
        tls=TlsOptions(**tls) if tls is not None else None,
        qos=config["qos"],
        reconnect_min_s=config["reconnect_s"][0],
        reconnect_max_s=config["reconnect_s"][1],
        keepalive_s=config["keepalive_s"],
    )


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """Run the protocol of the module docstring on these streams; the exit code."""
    first = read_frame(stdin)
    if first is None or first[0] != "config":
        logger.error("MQTT ingest process: no configuration frame; exiting")
        return 2
    config: dict[str, Any] = first[1]
    buffer = _Buffer(config["buffer"])
    ingest = _ingest(config, buffer)
    writer = _Writer(stdout, buffer, ingest)
    writer.start()
    ingest.start()
    try:
        while True:
            frame = read_frame(stdin)
            if frame is None:
                logger.warning("MQTT ingest process: the gateway closed the pipe; stopping")
                return 0
            kind = frame[0]
            if kind == "ack":
                ingest.acknowledge(
                    _Acked(mid, qos, connection) for mid, qos, connection in frame[1]
                )
            elif kind == "publish":
                ingest.publish(frame[1], frame[2], frame[3])
            elif kind == "stop":
                ingest.stop()
                writer.stop()
                if not writer.broken.is_set():
                    writer.send(("stats", asdict(ingest.stats)))
                return 0
            else:
                logger.error("MQTT ingest process: unknown frame %r ignored", kind)
    finally:
        ingest.stop()


class _Acked:
    """What ``MqttIngest.acknowledge`` reads of a message: its packet id, QoS and connection."""

    __slots__ = ("connection", "mid", "qos")

    def __init__(self, mid: int, qos: int, connection: int) -> None:
        self.mid, self.qos, self.connection = mid, qos, connection


def main() -> int:
    """Entry point of ``python -m drivers.mqtt.ingest_child``."""
    # The gateway ends this process through the pipe (a stop frame, or the pipe's end). A
    # SIGTERM or SIGINT sent to the whole group (systemd stopping the unit's cgroup, Ctrl-C in
    # a terminal) must not end it first: the gateway's orderly stop still talks to it.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    level = os.environ.get("GATEWAY_INGEST_LOG_LEVEL", "WARNING")
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Frames own standard output: anything printed by mistake would put the stream out of step,
    # so descriptor 1 is pointed at standard error and the frames go to a private copy.
    frames_out = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return serve(sys.stdin.buffer, frames_out)


if __name__ == "__main__":
    sys.exit(main())
