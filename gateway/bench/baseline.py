"""The ceiling: how fast a bare paho QoS-1 subscriber receives from a broker, and a load publisher.

``measure_bare_subscriber`` is the number the gateway's own ingest is compared with: a subscriber
that does nothing but count. ``publish_load`` drives the broker from separate processes (so the
publishers do not share the measured process's GIL) and is reused by the end-to-end benchmark.

Run ``python -m gateway.bench.baseline [mqtt://host:port]`` to print the measurement as JSON;
without a URL a private broker is started (see ``drivers.mqtt.broker``).

The result depends on the broker's settings: mosquitto needs ``set_tcp_nodelay true`` (else
QoS-1 on loopback stalls at a few thousand msg/s) and a ``max_inflight_messages`` above its
default of 20; ``start_broker`` sets both. A broker left at ``max_queued_messages 1000`` (the
default) drops QoS-1 messages to a subscriber that falls more than that far behind: a burst
from several publishers does that, and the measurement then fails with a count short.
Wall time here is measured with ``time.perf_counter``: this is measurement, not domain time.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from drivers.mqtt.broker import start_broker
from drivers.mqtt.url import parse_broker_url
from gateway.bench.wire_publisher import publish_qos1
from gateway.errors import TransportError

__all__ = ["DEFAULT_PAYLOAD", "measure_bare_subscriber", "publish_load"]

# An OwnTracks location as a phone sends it: a realistic size for a GPS terminal's message.
DEFAULT_PAYLOAD = (
    b'{"_type":"location","tid":"g7","lat":30.5928,"lon":114.3055,"acc":8,"alt":23,'
    b'"vel":4,"cog":270,"batt":81,"conn":"m","tst":1772438400}'
)

# Unacknowledged QoS-1 messages a publisher keeps in flight: enough to fill the pipe on loopback.
_PUBLISHER_INFLIGHT = 500
# Seconds without a new message, after every publish was acknowledged, that mean "lost".
_STALL_S = 5.0


def _client(url: str, client_id: str, inflight: int = 20) -> mqtt.Client:
    """A connected paho client (clean session); ``inflight`` must be set before connecting."""
    address = parse_broker_url(url)
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id)
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set()
    client.max_inflight_messages_set(inflight)
    client.connect(address.host, address.port, keepalive=60)
    return client


def _publish_chunk(url: str, chunk: Sequence[tuple[str, bytes]], qos: int, timeout_s: float) -> int:
    """Publish ``chunk`` pipelined from one client and return once the broker acked all of it:
    QoS 1 over plain TCP by ``wire_publisher`` (a few microseconds a message), else by paho."""
    address = parse_broker_url(url)
    client_id = f"bench-pub-{os.getpid()}-{threading.get_ident()}"
    if qos == 1 and not address.tls:
        return publish_qos1(
            address, client_id, chunk, window=_PUBLISHER_INFLIGHT, timeout_s=timeout_s
        )
    return _publish_chunk_paho(url, chunk, qos, timeout_s)


def _publish_chunk_paho(
    url: str, chunk: Sequence[tuple[str, bytes]], qos: int, timeout_s: float
) -> int:
    client = _client(url, f"bench-pub-{os.getpid()}-{threading.get_ident()}", _PUBLISHER_INFLIGHT)
    acked = 0
    done = threading.Event()
    total = len(chunk)

    def on_publish(c: mqtt.Client, u: Any, mid: int, rc: Any, p: Any) -> None:
        nonlocal acked
        acked += 1
        if acked >= total:
            done.set()

    client.on_publish = on_publish
    # paho's outgoing queue is unbounded by default: the whole chunk is queued at once and sent
    # as PUBACKs free in-flight slots.
    client.loop_start()
    try:
        if total == 0:
            return 0
        for topic, payload in chunk:
            client.publish(topic, payload, qos=qos)
        if not done.wait(timeout_s):
            raise TransportError(f"broker acknowledged {acked} of {total} within {timeout_s} s")
        return total
    finally:
        client.disconnect()
        client.loop_stop()


def publish_load(
    broker_url: str,
    messages: Iterable[tuple[str, bytes]],
    publishers: int = 4,
    *,
    qos: int = 1,
    timeout_s: float = 300.0,
) -> int:
    """Publish ``(topic, payload)`` pairs from ``publishers`` processes as fast as the broker takes.

    Messages are split by topic (a stable hash), so all messages of one topic go through one
    client in their given order: per-device order is kept, as a device would keep it. Each client
    pipelines QoS-1 publishes (does not wait for one PUBACK before the next). Returns the number
    of messages the broker acknowledged, once all are; raises ``TransportError`` otherwise.

    The publishers are spawned processes, so a script calling this must guard its entry point
    with ``if __name__ == "__main__":`` (the spawned interpreters import the main module).
    """
    if publishers < 1:
        raise ValueError("publishers must be at least 1")
    chunks: list[list[tuple[str, bytes]]] = [[] for _ in range(publishers)]
    for topic, payload in messages:
        chunks[zlib.crc32(topic.encode()) % publishers].append((topic, payload))
    # spawn, not fork: the calling process may run paho threads, which a fork would copy mid-state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=publishers, mp_context=context) as pool:
        futures = [
            pool.submit(_publish_chunk, broker_url, chunk, qos, timeout_s) for chunk in chunks
        ]
        return sum(future.result() for future in futures)


def measure_bare_subscriber(
    broker_url: str,
    *,
    messages: int = 50_000,
    publishers: int = 4,
    payload: bytes = DEFAULT_PAYLOAD,
    devices: int = 100,
    timeout_s: float = 300.0,
) -> dict[str, float]:
    """Count how fast a bare QoS-1 subscriber receives ``messages`` published by ``publishers``.

    Returns ``{"messages": n, "seconds": s, "msgs_per_s": r}`` timed at the subscriber from the
    first message to the last (so process start-up is not counted). Topics are
    ``bench/<pid>/dev-<k>`` for ``devices`` simulated devices.
    """
    if messages < 2:
        raise ValueError("need at least 2 messages to time an interval")
    prefix = f"bench/{os.getpid()}"
    count = 0
    first = last = 0.0
    all_in = threading.Event()
    subscribed = threading.Event()

    def on_message(c: mqtt.Client, u: Any, m: mqtt.MQTTMessage) -> None:
        nonlocal count, first, last
        now = time.perf_counter()
        if count == 0:
            first = now
        count += 1
        last = now
        if count >= messages:
            all_in.set()

    subscriber = _client(broker_url, f"bench-sub-{os.getpid()}")
    subscriber.on_message = on_message
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.subscribe(f"{prefix}/#", qos=1)
    subscriber.loop_start()
    try:
        if not subscribed.wait(10):
            raise TransportError(f"no SUBACK from {broker_url}")
        load = ((f"{prefix}/dev-{i % devices}", payload) for i in range(messages))
        publish_load(broker_url, load, publishers, timeout_s=timeout_s)
        # All published and acknowledged: the rest is in flight to us. Stop waiting once nothing
        # arrives for a while (a broker dropping messages would otherwise hold us to timeout_s).
        seen = -1
        while not all_in.wait(_STALL_S):
            if count == seen:
                raise TransportError(
                    f"subscriber received {count} of {messages}; none for {_STALL_S} s"
                )
            seen = count
    finally:
        subscriber.disconnect()
        subscriber.loop_stop()
    seconds = last - first
    return {"messages": count, "seconds": seconds, "msgs_per_s": (count - 1) / seconds}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gateway.bench.baseline [URL [MESSAGES [PUBLISHERS]]]``: print the result."""
    args = list(sys.argv[1:] if argv is None else argv)
    messages = int(args[1]) if len(args) > 1 else 50_000
    publishers = int(args[2]) if len(args) > 2 else 4
    if args:
        result: dict[str, Any] = dict(
            measure_bare_subscriber(args[0], messages=messages, publishers=publishers)
        )
        result["broker"] = args[0]
    else:
        with start_broker() as broker:
            result = dict(
                measure_bare_subscriber(broker.url, messages=messages, publishers=publishers)
            )
            result["broker"] = f"private {broker.kind}"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
