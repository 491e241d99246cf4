"""One process of a partitioned gateway: holds partition leases and runs their MQTT clients.

Every ``RENEW_EVERY`` the node's thread runs one cycle (:meth:`ClusterNode.cycle`):

1. heartbeat (this node is alive; how many are);
2. renew its leases; a lease not renewed was taken over: its partition is dropped at once;
3. give back the partitions above its fair share, one cleanly after the other: its MQTT
   client stops (the broker keeps the session and queues for it), the pipeline runs what it
   already took in and leaves that partition's guards (a reload), then the lease is released;
4. take free or expired partitions up to its fair share: lease first, then the pipeline loads
   those guards with their saved states as after a restart (a deadline that fell due while
   nobody watched fires ``late``), then the partition's client connects under its fixed id,
   and the broker hands it what was queued for the session;
5. restart a held partition's client when its devices' topics changed (a site load).

Fencing: the pipeline calls :meth:`ClusterNode.fence` inside every writing transaction, before
it commits. It checks that every lease the node counts on is still its own at the same epoch
(``LeaseStore.fence``): a node that was paused past its TTL and taken over rolls its batch back
instead of committing events the new owner also decides, and drops the lost partitions before
the batch is retried. It also wakes the node's thread, which stops those partitions' clients
at once (and the group robots with partition 0), as when a renewal finds a lease lost: a
client left running would reconnect under the new owner's client id, take the session back
from it, and hand this process fixes it no longer judges (dropped, acknowledged: lost).
Acknowledgements go only to the client that received a message: a stopped client acknowledges
nothing, and the broker takes the session from a paused client when the new owner connects
under the same id, so what the old one had not acknowledged is delivered to the new one (the
store's uniqueness and the duplicate filter absorb what both saw).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.orm import Session

from gateway.cluster.leases import RENEW_EVERY, Lease, LeaseLost, LeaseStore, fair_share
from gateway.cluster.partitions import partition_of

__all__ = ["ClusterNode", "PartitionClient", "PartitionMoving", "Pipeline"]

log = logging.getLogger(__name__)


class PartitionMoving(RuntimeError):
    """No live node holds the partition right now (a takeover under way): try again shortly."""

    def __init__(self, partition: int) -> None:
        super().__init__(f"partition {partition} is being taken over; try again in a few seconds")
        self.partition = partition


class PartitionClient(Protocol):
    """What the node needs of a partition's MQTT client (``MqttIngest``)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Pipeline(Protocol):
    """What the node needs of the pipeline: scope its guards and wait until it applied."""

    def set_scope(self, scope: Callable[[str], bool] | None) -> None: ...

    def settle(self) -> None: ...


class ClusterNode:
    """Leases, scope and partition clients of this process.

    ``make_client(partition, topics)`` builds a partition's client (not started);
    ``topics()`` maps partition → its devices' topic filters (re-read every cycle).
    ``on_primary(held)`` is called when this node gains (True) or loses (False) partition 0,
    whose holder runs the work that must run once per gateway (group robots).
    """

    def __init__(
        self,
        store: LeaseStore,
        pipeline: Pipeline,
        make_client: Callable[[int, list[str]], PartitionClient],
        topics: Callable[[], dict[int, list[str]]],
        *,
        api_url: str | None = None,
        on_primary: Callable[[bool], None] | None = None,
    ) -> None:
        self._store = store
        self._pipeline = pipeline
        self._make_client = make_client
        self._topics = topics
        self._api_url = api_url
        self._on_primary = on_primary
        self._held: frozenset[Lease] = frozenset()  # read by the pipeline thread (fence)
        self._fenced: frozenset[Lease] = frozenset()
        """Lost at the fence (pipeline thread): their clients are stopped by the next cycle."""
        self._fenced_lock = threading.Lock()
        self._clients: dict[int, tuple[PartitionClient, list[str]]] = {}
        self._lock = threading.Lock()  # one cycle at a time; guards _clients
        self._primary_on = False  # whether on_primary(True) was the last call
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.live_nodes = 1
        self.cycles_failed = 0

    @property
    def node_id(self) -> str:
        return self._store.node_id

    @property
    def partitions(self) -> int:
        return self._store.partitions

    def held(self) -> list[int]:
        """The partitions this node holds now, sorted."""
        return sorted(lease.partition for lease in self._held)

    def owns_guard(self, guard_id: str) -> bool:
        """Whether ``guard_id``'s partition is held here."""
        return partition_of(guard_id, self.partitions) in set(self.held())

    def owner_url(self, guard_id: str) -> str | None:
        """Where API commands for ``guard_id`` must go: ``None`` when his partition is held
        here, else the API URL of the node holding it. Raises ``PartitionMoving`` while nobody
        holds it (a takeover under way)."""
        partition = partition_of(guard_id, self.partitions)
        if partition in set(self.held()):
            return None
        owner = self._store.owners().get(partition)
        # Still this node's lease but no longer in its hands: given back, not yet released.
        if owner is None or owner[1] is None or owner[0] == self.node_id:
            raise PartitionMoving(partition)
        return owner[1]

    def peers(self) -> tuple[dict[str, str], list[int]]:
        """The other nodes holding partitions now (node id → API URL), and the partitions
        nobody holds (``gateway.cluster.fanout``)."""
        owners = self._store.owners()
        others = {
            node: url for node, url in owners.values() if node != self.node_id and url is not None
        }
        return others, sorted(set(range(self.partitions)) - set(owners))

    def describe(self) -> dict[str, Any]:
        """For ``/health``: this node, its partitions with their epochs, the live nodes."""
        return {
            "node": self.node_id,
            "partitions": self.partitions,
            "held": {str(lease.partition): lease.epoch for lease in sorted(self._held)},
            "live_nodes": self.live_nodes,
        }

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Join (refusing a wrong partition count, or a second process on SQLite), run a first
        cycle so the partitions free now are held before this returns, then cycle on a thread."""
        self._store.join(self._api_url)
        self._pipeline.set_scope(self.owns_guard)
        self._pipeline.settle()
        self.cycle()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="cluster-leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop every partition client, let the pipeline settle, then release every lease."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        with self._lock:
            for partition in list(self._clients):
                self._stop_client(partition)
            self._pipeline.settle()  # the last batch commits (and is acknowledged) first
            held, self._held = self._held, frozenset()
            self._store.leave(set(held))
            self._primary()
        log.info("cluster node %s left, partitions released", self.node_id)

    def _loop(self) -> None:
        while True:
            # Every RENEW_EVERY, or at once when the fence found leases lost.
            self._wake.wait(RENEW_EVERY.total_seconds())
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.cycle()
            except Exception:  # a database hiccup: the next cycle tries again within the TTL
                self.cycles_failed += 1
                log.exception("cluster lease cycle of %s failed", self.node_id)

    # --- the cycle --------------------------------------------------------------------------

    def cycle(self) -> None:
        """One round of heartbeat, renewal, rebalance and take-over (see the module docstring)."""
        with self._lock:
            self.live_nodes = self._store.heartbeat()
            with self._fenced_lock:
                fenced, self._fenced = self._fenced, frozenset()
            held_now = set(self.held())  # a partition taken again since is kept running
            if gone := frozenset(lease for lease in fenced if lease.partition not in held_now):
                self._drop(gone, "taken over, found at the fence")
            before = self._held
            kept = self._store.renew(set(before))
            if lost := before - kept:
                self._drop(lost, "taken over")
            share = fair_share(self.partitions, self.live_nodes)
            extra = sorted(self._held, reverse=True)[: max(0, len(self._held) - share)]
            for lease in extra:
                self._give_back(lease)
            room = share - len(self._held)
            gained = self._store.acquire(room) if room > 0 else []
            topics = self._topics()
            if gained:
                self._held = self._held | set(gained)
                self._pipeline.set_scope(self.owns_guard)
                self._pipeline.settle()  # their guards and states loaded before messages come
                log.info(
                    "node %s took partitions %s (now %s)",
                    self.node_id,
                    [lease.partition for lease in gained],
                    self.held(),
                )
            for lease in sorted(self._held):
                wanted = topics.get(lease.partition, [])
                current = self._clients.get(lease.partition)
                if current is not None and current[1] != wanted:
                    self._stop_client(lease.partition)  # a site load changed its devices
                    current = None
                if current is None and wanted:
                    client = self._make_client(lease.partition, wanted)
                    client.start()
                    self._clients[lease.partition] = (client, wanted)
            self._primary()

    def fence(self, session: Session) -> None:
        """Called by the pipeline inside each writing transaction (see the module docstring).

        Raises ``LeaseLost`` when a lease is gone; the lost partitions are dropped from the
        scope first, so the retried batch passes and leaves their guards to the new owner.
        """
        held = self._held
        try:
            self._store.fence(session, held)
        except LeaseLost as exc:
            self._held = self._held - exc.lost
            with self._fenced_lock:
                self._fenced = self._fenced | exc.lost
            self._pipeline.set_scope(self.owns_guard)
            self._wake.set()  # their clients and robots stop now, not at the next renewal
            log.warning("node %s: %s; its batch is rolled back and retried", self.node_id, exc)
            raise

    def _drop(self, lost: frozenset[Lease], why: str) -> None:
        self._held = self._held - lost
        for lease in lost:
            self._stop_client(lease.partition)
        self._pipeline.set_scope(self.owns_guard)
        self._pipeline.settle()
        log.warning("node %s lost partitions %s (%s)", self.node_id, sorted(lost), why)

    def _give_back(self, lease: Lease) -> None:
        # Client first (nothing new comes in), then the pipeline commits what it took in and
        # leaves the partition's guards, then the lease: the next owner reads final states.
        self._stop_client(lease.partition)
        self._held = self._held - {lease}
        self._pipeline.set_scope(self.owns_guard)
        self._pipeline.settle()
        self._store.release(lease)
        log.info("node %s gave back partition %d (rebalance)", self.node_id, lease.partition)

    def _stop_client(self, partition: int) -> None:
        entry = self._clients.pop(partition, None)
        if entry is not None:
            entry[0].stop()

    def _primary(self) -> None:
        # Against what was last told, not the leases before this cycle: partition 0 may have
        # left them at the fence, between two cycles.
        has = any(lease.partition == 0 for lease in self._held)
        if has != self._primary_on:
            self._primary_on = has
            if self._on_primary is not None:
                self._on_primary(has)
