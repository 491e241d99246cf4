"""What ``gateway.bootstrap`` needs to run a partitioned gateway: the lease store from the
settings, the partition MQTT clients, and the pipeline seen through the node's eyes."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

from drivers.mqtt.ingest import MqttIngest, MqttMessage, TlsOptions
from drivers.mqtt.ingest_process import IngestProcess
from drivers.mqtt.ingest_types import Ingest
from gateway.clock import Clock
from gateway.cluster.leases import LeaseStore
from gateway.cluster.node import ClusterNode
from gateway.cluster.partitions import PartitionMessage, partition_client_id, partition_of
from gateway.errors import ConfigError, TransportError
from gateway.outbox.passes import PassRunner
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.settings import Settings

__all__ = [
    "PartitionClients",
    "PipelineScope",
    "api_url",
    "ingest_factory",
    "lease_store",
    "node_id",
    "run_robots",
    "shared_settings",
    "single_ingest",
]

log = logging.getLogger(__name__)

SETTLE_TIMEOUT_S = 60.0
"""How long a change of partitions waits for the pipeline to finish what it took in."""


def node_id(settings: Settings) -> str:
    """``GATEWAY_NODE_ID``, else ``<hostname>-<pid>`` (unique among running processes)."""
    return settings.node_id or f"{socket.gethostname()}-{os.getpid()}"


def api_url(settings: Settings) -> str:
    """``GATEWAY_PUBLIC_URL``, else the API's own address."""
    return (settings.public_url or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")


def ingest_factory(
    settings: Settings, clock: Clock
) -> Callable[[str, str | None, list[str], Callable[[MqttMessage], None]], MqttIngest]:
    """``make(client_id, username, filters, handoff)``: an ``MqttIngest`` on the settings'
    broker (URL, password, TLS files), for the one client of a single process or a partition's."""

    def make(
        client_id: str,
        username: str | None,
        filters: list[str],
        take: Callable[[MqttMessage], None],
    ) -> MqttIngest:
        return MqttIngest(
            settings.mqtt_url,
            client_id=client_id,
            topic_filters=filters,
            handoff=take,
            clock=clock,
            username=username,
            password=_password(settings),
            tls=_tls(settings),
        )

    return make


def single_ingest(
    settings: Settings, clock: Clock, filters: list[str], take: Callable[[MqttMessage], None]
) -> Ingest:
    """The MQTT client of a gateway not partitioned: an ``IngestProcess`` (paho in a child
    process) unless ``GATEWAY_MQTT_INGEST_PROCESS`` is false, then an ``MqttIngest``."""
    if not settings.mqtt_ingest_process:
        return ingest_factory(settings, clock)(
            settings.mqtt_client_id, settings.mqtt_username, filters, take
        )
    return IngestProcess(
        settings.mqtt_url,
        client_id=settings.mqtt_client_id,
        topic_filters=filters,
        handoff=take,
        clock=clock,
        username=settings.mqtt_username,
        password=_password(settings),
        tls=_tls(settings),
    )


def _password(settings: Settings) -> str | None:
    return settings.mqtt_password.get_secret_value() if settings.mqtt_password else None


def _tls(settings: Settings) -> TlsOptions | None:
    if not settings.mqtt_url.startswith("mqtts://"):
        return None
    return TlsOptions(
        ca_file=settings.mqtt_ca_file,
        cert_file=settings.mqtt_cert_file,
        key_file=settings.mqtt_key_file,
    )


def run_robots(robots: Sequence[PassRunner], run: bool) -> None:
    """Start (or stop) the group robots' workers: on the holder of partition 0 only, so two
    processes never post the same digest."""
    for robot in robots:
        if run:
            robot.start()
        else:
            robot.stop()


def refuse_unshared_workers(settings: Settings, engine: Engine) -> None:
    """Raises ``ConfigError`` for several delivery workers on SQLite: it has no row locks, so
    each worker would send every event."""
    if settings.delivery_workers > 1 and engine.dialect.name == "sqlite":
        raise ConfigError(
            f"GATEWAY_DELIVERY_WORKERS={settings.delivery_workers} needs PostgreSQL: on SQLite "
            "one worker delivers"
        )


def lease_store(settings: Settings, engine: Engine, clock: Clock) -> LeaseStore | None:
    """The lease store when ``GATEWAY_PARTITIONS`` > 1, else ``None`` (one process, as ever)."""
    if settings.partitions == 1:
        return None
    return LeaseStore(
        engine, clock, node_id(settings), settings.partitions, shared_settings(settings)
    )


def shared_settings(settings: Settings) -> dict[str, str]:
    """The settings every process of a partitioned gateway must share, with this one's values:
    whether it delivers to a core (one without would keep the events waiting for the core, the
    others' too, as the record only), and the MQTT client id and topic prefixes (a partition's
    session and its devices' topics are named by them: a process with others would take over
    a partition without what the broker queued for it)."""
    return {
        "GATEWAY_CORE_URL": "set" if settings.core_url else "not set",
        "GATEWAY_MQTT_CLIENT_ID": settings.mqtt_client_id,
        "GATEWAY_MQTT_TOPIC_PREFIX": settings.mqtt_topic_prefix,
    }


class PipelineScope:
    """The pipeline as the node drives it: scope its guards, wait until it applied."""

    def __init__(self, processor: Processor, runtime: PipelineRuntime[Any]) -> None:
        self._processor = processor
        self._runtime = runtime

    def set_scope(self, scope: Callable[[str], bool] | None) -> None:
        self._processor.set_scope(scope)

    def settle(self) -> None:
        """Returns once the pipeline processed all it was handed so far and applied the scope
        (a transaction runs, which applies a pending scope first)."""
        self._runtime.wait_idle(SETTLE_TIMEOUT_S)


class PartitionClients:
    """Builds the MQTT client of each partition and routes replies to terminals through the
    client of the terminal's partition.

    ``make_ingest(client_id, username, filters, handoff)`` builds an ``MqttIngest`` from the
    settings; ``submit(message)`` hands a message to the pipeline (may raise ``queue.Full``).
    A partition's client id is ``<client prefix>-pNN``; with a broker user name set, its user
    name gets the same suffix (the accounts ``broker-config --partitions`` writes: the broker
    makes the user name the client id).
    """

    def __init__(
        self,
        client_prefix: str,
        username: str | None,
        partitions: int,
        make_ingest: Callable[
            [str, str | None, list[str], Callable[[MqttMessage], None]], MqttIngest
        ],
        submit: Callable[[MqttMessage], None],
        guard_of_device: Callable[[str], str | None],
    ) -> None:
        self._prefix = client_prefix
        self._username = username
        self._partitions = partitions
        self._make_ingest = make_ingest
        self._submit = submit
        self._guard_of_device = guard_of_device
        self.current: dict[int, MqttIngest] = {}

    def make(self, partition: int, topics: list[str]) -> MqttIngest:
        """A partition's client (not started) on its fixed id; what it receives is tagged with
        it, so its acknowledgements go back through it alone."""
        holder: list[MqttIngest] = []

        def handoff(message: MqttMessage) -> None:
            self._submit(
                PartitionMessage(
                    message.topic,
                    message.payload,
                    message.received_at,
                    message.qos,
                    message.retain,
                    mid=message.mid,
                    connection=message.connection,
                    partition=partition,
                    source=holder[0],
                )
            )

        client_id = partition_client_id(self._prefix, partition)
        username = None
        if self._username is not None:
            username = partition_client_id(self._username, partition)
        ingest = self._make_ingest(client_id, username, topics, handoff)
        holder.append(ingest)
        self.current[partition] = ingest
        return ingest

    @staticmethod
    def acknowledge(messages: list[MqttMessage]) -> None:
        """Acknowledge each message through the client that received it (in order)."""
        by_source: dict[int, tuple[MqttIngest, list[MqttMessage]]] = {}
        for message in messages:
            if isinstance(message, PartitionMessage) and isinstance(message.source, MqttIngest):
                entry = by_source.setdefault(id(message.source), (message.source, []))
                entry[1].append(message)
        for source, batch in by_source.values():
            source.acknowledge(batch)

    def held_by(self, node: ClusterNode) -> dict[int, MqttIngest]:
        """The clients of the partitions ``node`` holds now (one with no device has none):
        what readiness and metrics look at."""
        current = dict(self.current)  # a copy: the node's thread replaces clients meanwhile
        return {p: current[p] for p in node.held() if p in current}

    def publish(self, device_id: str, topic: str, payload: bytes) -> None:
        """Publish a reply to ``device_id`` through its partition's client (if held here)."""
        guard_id = self._guard_of_device(device_id)
        partition = partition_of(guard_id, self._partitions) if guard_id is not None else None
        ingest = self.current.get(partition) if partition is not None else None
        if ingest is None:
            log.warning("no partition client here for device %s: reply not sent", device_id)
            return
        try:
            ingest.publish(topic, payload)
        except TransportError as exc:  # stopped meanwhile: the terminal resends
            log.warning("reply to %s not sent: %s", device_id, exc)
