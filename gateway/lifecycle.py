"""A wired gateway and the order its parts start and stop in.

``gateway.bootstrap.build_gateway`` builds a :class:`Gateway`; this module only runs it. The
order is the contract: ``start()`` brings up what receives before what sends to it (delivery,
the pipeline, then the inputs), so nothing arrives that has nowhere to go; ``stop()`` ends the
inputs first, lets the pipeline drain its last batch, then stops delivery, so no input taken in
is left undecided. Both run on the caller's thread and return once every part has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI
from sqlalchemy import Engine

from drivers.mqtt.ingest_types import Ingest, MqttMessage
from gateway.clock import Clock
from gateway.cluster.node import ClusterNode
from gateway.db.wal_checkpoint import WalCheckpointer
from gateway.field_devices import FieldDevices, start_field_devices
from gateway.gc_tuning import freeze_startup_heap, release_startup_heap
from gateway.malloc_arenas import MallocTrimmer
from gateway.outbox.delivery import DeliveryWorker
from gateway.outbox.robot_delivery import RobotDeliveryWorker
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.privacy.worker import RetentionWorker
from gateway.records import DecodeOutcome
from gateway.settings import Settings

__all__ = ["Gateway"]


@dataclass
class Gateway:
    """A wired gateway: start() brings up delivery, the pipeline, then ingest; stop() reverses."""

    settings: Settings
    clock: Clock
    engine: Engine
    processor: Processor
    runtime: PipelineRuntime[MqttMessage | DecodeOutcome]
    ingest: Ingest | None
    delivery: DeliveryWorker | None
    app: FastAPI
    _closers: list[Callable[[], None]] = field(default_factory=list)
    with_field_devices: bool = True
    field_devices: FieldDevices = field(default_factory=FieldDevices)
    robots: list[RobotDeliveryWorker] = field(default_factory=list)
    """One delivery worker per group robot of the loaded site files."""
    retention: RetentionWorker | None = None
    """Purges what the retention policy no longer allows to keep."""
    iclock_app: FastAPI | None = None
    """The ZKTeco PUSH routes on their own, when ``settings.iclock_port`` is set (then ``app``
    does not serve them); ``None`` when ``app`` serves them."""
    more_delivery: list[DeliveryWorker] = field(default_factory=list)
    """Further delivery workers to the core (``GATEWAY_DELIVERY_WORKERS`` > 1)."""
    cluster: ClusterNode | None = None
    """The partition leases and their MQTT clients (``GATEWAY_PARTITIONS`` > 1); then
    ``ingest`` is ``None`` and the group robots run on the holder of partition 0 only."""
    trimmer: MallocTrimmer = field(default_factory=MallocTrimmer)
    """Gives the heap's freed pages back every half minute (``gateway.malloc_arenas``)."""
    checkpointer: WalCheckpointer | None = None
    """SQLite's WAL checkpoints, off the pipeline's commits (``gateway.db.wal_checkpoint``)."""

    def start(self) -> None:
        """Start delivery, the pipeline thread, then the inputs (MQTT, readers, terminals)."""
        freeze_startup_heap()  # the roster and states just read: see gateway.gc_tuning
        self.trimmer.start()
        if self.checkpointer is not None:
            self.checkpointer.start()
        for worker in self._deliveries():
            worker.start()
        if self.cluster is None:
            for robot in self.robots:
                robot.start()
        self.runtime.start()
        if self.retention is not None:
            self.retention.start()
        if self.ingest is not None:
            self.ingest.start()
        if self.cluster is not None:
            self.cluster.start()
        if self.with_field_devices:
            start_field_devices(
                self.engine,
                self.clock,
                self.runtime,
                self.settings.field_devices,
                into=self.field_devices,  # the one /metrics reads
            )

    def stop(self) -> None:
        """Stop the inputs first so nothing new arrives, drain the pipeline, then delivery."""
        self.field_devices.stop()
        if self.ingest is not None:
            self.ingest.stop()
        if self.cluster is not None:  # its last batch committed, then its leases released
            self.cluster.stop()
        self.runtime.stop()
        if self.retention is not None:
            self.retention.stop()
        for worker in self._deliveries():
            worker.stop()
        for robot in self.robots:
            robot.stop()
        for close in reversed(self._closers):
            close()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
        self.trimmer.stop()
        release_startup_heap()

    def _deliveries(self) -> list[DeliveryWorker]:
        return ([self.delivery] if self.delivery is not None else []) + self.more_delivery
