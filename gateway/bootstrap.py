"""The one place that wires adapters together: settings → engine, broker, pipeline, delivery, API.

Everything else receives its collaborators; nothing else builds them. ``build_gateway`` returns a
``gateway.lifecycle.Gateway``, started and stopped as a whole.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from drivers.gps.jt808 import Jt808Codec, Jt808Platform
from drivers.gps.mqtt_decoder import GpsMessageDecoder
from drivers.gps.topics import downlink_topic, subscription_filters
from drivers.mqtt.ingest import MqttIngest, MqttMessage
from drivers.mqtt.ingest_types import Ingest
from drivers.zkteco.push_router import make_push_router
from gateway.api.app import create_app
from gateway.api.server import ApiServer, free_port
from gateway.api.validation import BodyLimit
from gateway.clock import Clock
from gateway.cluster.node import ClusterNode
from gateway.cluster.partitions import partition_topics
from gateway.cluster.peer_auth import PeerAuth
from gateway.cluster.wiring import (
    PartitionClients,
    PipelineScope,
    api_url,
    ingest_factory,
    lease_store,
    refuse_unshared_workers,
    run_robots,
    single_ingest,
)
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.db.wal_checkpoint import WalCheckpointer
from gateway.errors import ConfigError, TransportError
from gateway.field_devices import FieldDevices, punch_sink, push_terminal_config
from gateway.gc_tuning import tune_collector
from gateway.host_lock import default_lock_dir
from gateway.lifecycle import Gateway
from gateway.malloc_arenas import limit_malloc_arenas
from gateway.ops.metrics import BatchTimer, GatewayCollector
from gateway.ops.readiness import Readiness, require_current_schema
from gateway.ops.routes import operations_routes
from gateway.outbox.passes import PassRunner
from gateway.outbox.record import keep_core_queue_as_record
from gateway.outbox.robots import load_robot_targets
from gateway.outbox.routing import RobotRouter
from gateway.outbox.senders import Sender
from gateway.outbox.tables import CORE_DESTINATION, RECORD_DESTINATION
from gateway.outbox.workers import core_delivery_workers, robot_delivery_workers
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.privacy.worker import RetentionWorker
from gateway.records import DecodeOutcome, Downlink
from gateway.settings import Settings
from gateway.web.geometry import TileLayer

__all__ = ["ApiServer", "build_gateway", "free_port"]

log = logging.getLogger(__name__)

HANDOFF_WAIT_S = 1.0
"""How long MQTT's handoff waits for room in a full pipeline queue before the ingest adapter
checks whether it is stopping and offers the message again."""


def build_gateway(
    settings: Settings,
    clock: Clock,
    *,
    with_ingest: bool = True,
    with_field_devices: bool = True,
    sender: Sender | None = None,
    upgrade_schema: bool = True,
) -> Gateway:
    """Wire a gateway from ``settings`` on ``clock``.

    With ``upgrade_schema`` (the demo, tests) the schema is created or upgraded; without it
    (``guard-gateway run``) a database not at the newest migration, or not reachable, raises
    ``ConfigError`` saying how to fix it, and nothing is changed.

    ``sender`` overrides the management-core sender built from ``settings.core_url``; without
    either, events are kept as the gateway's record only, and events left waiting for a core
    become so too, with a notice (``gateway.outbox.record``). Every group robot of the
    stored site files gets its delivery worker; a robot whose secret is not set in
    ``settings.robot_secrets`` raises ``ConfigError`` naming it. Robots added by a site load
    while the gateway runs are routed to at once and delivered from the next start.

    With ``settings.partitions`` > 1 (and ``with_ingest``) the gateway is one node of a
    partitioned gateway (``gateway.cluster``, docs/scaling.md): one MQTT client per partition
    it holds, its pipeline scoped and fenced to those partitions' guards.

    The process's garbage collector gets the gateway's thresholds (``gateway.gc_tuning``), and
    its malloc two arenas (``gateway.malloc_arenas``).
    """
    jt808 = Jt808Codec(_jt808_platform(settings))  # first: a bad secret stops before any I/O
    tune_collector()
    limit_malloc_arenas()
    retention = settings.retention_policy()
    engine = make_engine(settings.database_url)
    if upgrade_schema:
        create_schema(engine)
    else:
        try:
            require_current_schema(engine)
        except ConfigError:
            engine.dispose()
            raise
    robot_secrets = {
        name: value.get_secret_value() for name, value in settings.robot_secrets.items()
    }
    try:
        targets = load_robot_targets(engine, robot_secrets)  # before anything starts: refuse early
        refuse_unshared_workers(settings, engine)  # with or without ingest
        store = lease_store(settings, engine, clock) if with_ingest else None
        if store is not None:  # before the outbox is touched: see keep_core_queue_as_record
            store.check_peers()
    except ConfigError:
        engine.dispose()
        raise
    closers: list[Callable[[], None]] = []
    core_workers = core_delivery_workers(settings, engine, clock, sender, closers)
    if not core_workers:  # robots and the live page only: nothing may wait for a core
        keep_core_queue_as_record(engine, clock.now())
    delivery = core_workers[0] if core_workers else None
    more_delivery = core_workers[1:]
    robots = robot_delivery_workers(settings, engine, clock, targets, closers)
    nodes: list[ClusterNode] = []  # the node, once built: the processor's fence asks it
    processor = Processor(
        engine,
        clock,
        event_source=settings.event_source,
        destinations=(CORE_DESTINATION,) if core_workers else (RECORD_DESTINATION,),
        route=RobotRouter(),
        fence=None if store is None else lambda session: nodes[0].fence(session),
    )
    if store is not None:  # no guard until leases say which: none may fire twice
        processor.set_scope(lambda _guard: False)
    workers: list[PassRunner] = [*robots, *([delivery] if delivery is not None else [])]
    workers += more_delivery

    def notify_delivery(_events: object) -> None:
        for worker in workers:
            worker.notify()

    if workers:
        processor.add_listener(notify_delivery)
    prefix = settings.mqtt_topic_prefix
    gps = GpsMessageDecoder(prefix, codecs={jt808.format_name: jt808})

    def decode(item: MqttMessage | DecodeOutcome) -> DecodeOutcome | None:
        # Readers and terminals hand over records already decoded; MQTT messages are GPS.
        return item if isinstance(item, DecodeOutcome) else gps(item)

    ingest: Ingest | None = None
    clients: PartitionClients | None = None

    def send_replies(replies: Sequence[Downlink]) -> None:
        # Called after the batch holding the frames is committed: a reply confirms storage.
        if clients is not None:
            for reply in replies:
                topic = downlink_topic(reply.channel, reply.device_id, prefix)
                clients.publish(reply.device_id, topic, reply.payload)
        if ingest is None:
            return
        try:
            for reply in replies:
                topic = downlink_topic(reply.channel, reply.device_id, prefix)
                ingest.publish(topic, reply.payload)
        except TransportError as exc:  # stopping: the terminal resends what went unanswered
            log.warning("replies to terminals not sent: %s", exc)

    def acknowledge(settled: Sequence[MqttMessage | DecodeOutcome]) -> None:
        # Called once the inputs' fate is final (stored or dropped for good): only now may the
        # broker forget the MQTT messages among them.
        messages = [item for item in settled if isinstance(item, MqttMessage)]
        if clients is not None:
            clients.acknowledge(messages)
        if ingest is not None:
            ingest.acknowledge(messages)

    registry = CollectorRegistry(auto_describe=False)  # this gateway's own: see gateway.ops
    batch_timer = BatchTimer(registry)
    runtime: PipelineRuntime[MqttMessage | DecodeOutcome] = PipelineRuntime(
        processor,
        clock,
        decode,
        on_replies=send_replies,
        on_settled=acknowledge,
        on_batch_timed=batch_timer.observe,
    )

    def handoff(message: MqttMessage) -> None:
        runtime.submit(message, timeout_s=HANDOFF_WAIT_S)

    make_ingest = ingest_factory(settings, clock)
    cluster: ClusterNode | None = None
    held_clients: Callable[[], dict[int, MqttIngest]] | None = None
    if with_ingest and store is None:
        filters = subscription_filters(settings.mqtt_topic_prefix)
        ingest = single_ingest(settings, clock, filters, handoff)
    elif store is not None:
        clients = PartitionClients(
            settings.mqtt_client_id,
            settings.mqtt_username,
            settings.partitions,
            make_ingest,
            handoff,
            lambda device: processor.duties.guard_of_device(device),
        )
        cluster = ClusterNode(
            store,
            PipelineScope(processor, runtime),
            clients.make,
            lambda: partition_topics(engine, settings.partitions, prefix),
            api_url=api_url(settings),
            on_primary=lambda held: run_robots(robots, held),
        )
        nodes.append(cluster)
        held_clients = partial(clients.held_by, cluster)
    tiles = None
    if settings.map_tile_url:
        tiles = TileLayer(
            settings.map_tile_url, settings.map_tile_datum, settings.map_tile_attribution
        )
    app = create_app(
        runtime,
        engine,
        clock,
        max_body_bytes=settings.api_max_body_bytes,
        tiles=tiles,
        cluster=cluster.describe if cluster is not None else None,
        owner_url=cluster.owner_url if cluster is not None else None,
        peers=cluster.peers if cluster is not None else None,
        peer_auth=None
        if store is None
        else PeerAuth(store.node_id, store.peer_key, store.peer_key_of, clock),
    )
    field_devices = FieldDevices(lock_dir=settings.lock_dir or default_lock_dir())
    registry.register(
        GatewayCollector(
            engine=engine,
            clock=clock,
            counters=processor.counters,
            queue_depth=runtime.backlog,
            ingest=ingest,
            destinations=[worker.destination for worker in workers],
            partition_clients=held_clients,
            reader_states=field_devices.reader_states,
            terminal_states=field_devices.terminal_states,
        )
    )
    readiness = Readiness(engine, ingest, runtime.alive, partition_clients=held_clients)
    app.include_router(operations_routes(readiness, registry))
    push_router = make_push_router(
        sink=punch_sink(engine, runtime),
        clock=clock,
        on_unknown_terminal=push_terminal_config(engine),
        # Unknown terminals and refused lines: counted and logged rate-limited like any reject.
        on_reject=lambda rejected: runtime.submit(DecodeOutcome(rejects=(rejected,))),
    )
    iclock_app: FastAPI | None = None
    if settings.iclock_port is None:
        app.include_router(push_router)
    else:  # the terminals' network reaches this app only, never the API's
        iclock_app = FastAPI(title="guard-gateway ZKTeco PUSH", openapi_url=None)
        iclock_app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
        iclock_app.include_router(push_router)
    return Gateway(
        settings,
        clock,
        engine,
        processor,
        runtime,
        ingest,
        delivery,
        app,
        closers,
        with_field_devices=with_field_devices,
        field_devices=field_devices,
        robots=robots,
        retention=RetentionWorker(
            engine,
            clock,
            retention,
            processor.counters,
            interval=timedelta(minutes=settings.retention_interval_min),
        ),
        iclock_app=iclock_app,
        more_delivery=more_delivery,
        cluster=cluster,
        checkpointer=WalCheckpointer(engine),
    )


def _jt808_platform(settings: Settings) -> Jt808Platform:
    """The JT/T 808 platform side, keyed by the setting or by a random key of this process."""
    if settings.jt808_auth_secret is None:
        return Jt808Platform(secrets.token_bytes(32), ephemeral=True)
    secret = settings.jt808_auth_secret.get_secret_value().encode("utf-8")
    if not secret:
        raise ConfigError("GATEWAY_JT808_AUTH_SECRET is set but empty")
    return Jt808Platform(secret)
