"""Partition leases in the database: who holds which partition, renewed or lost.

Contract
--------
* A partition is held by one node until its lease's ``expires_at`` (the holder's clock plus
  ``LEASE_TTL``); the holder renews it every ``RENEW_EVERY`` (well inside the TTL). A lease not
  renewed in time is free for anyone.
* Every acquisition adds one to the partition's ``epoch``. A ``Lease`` is (partition, epoch): a
  renewal, a release and the fence (:meth:`LeaseStore.fence`) match both, so a process whose
  lease expired and was taken (a pause, a network cut) finds out at its next statement instead
  of writing as if it still held it.
* A node is alive while its own row's ``expires_at`` (its heartbeat) is in the future. Its fair
  share is ``ceil(partitions / live nodes)``: it takes free partitions up to that share and gives
  back the ones above it, so a new node gets partitions without anyone being killed.
* Every process of a gateway shares some settings besides the number of partitions (the core,
  the MQTT client id and topic prefixes: ``gateway.cluster.wiring.shared_settings``); a node
  records its own when it joins, and one whose settings differ from a live node's is refused
  (:meth:`LeaseStore.check_peers`, again in :meth:`LeaseStore.join`).
* Each node draws a random key at its start (``peer_key``) and records it in its row beside
  those settings (under ``PEER_KEY_FIELD``, never compared): it signs the commands the node
  forwards, and another node checks them with :meth:`LeaseStore.peer_key_of`
  (``gateway.cluster.peer_auth``).
* On PostgreSQL the free partitions are picked with ``FOR UPDATE SKIP LOCKED``, so two nodes
  looking at once take different ones; the conditional ``UPDATE`` makes each take atomic on any
  backend. SQLite holds one process only: :meth:`LeaseStore.join` refuses a second live node.

Time is the injected clock's; every method is one short transaction.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gateway.clock import Clock
from gateway.cluster.peer_auth import PeerKey
from gateway.cluster.tables import NodeRow, PartitionRow
from gateway.errors import ConfigError

__all__ = [
    "LEASE_TTL",
    "PEER_KEY_FIELD",
    "RENEW_EVERY",
    "Lease",
    "LeaseLost",
    "LeaseStore",
    "fair_share",
]

LEASE_TTL = timedelta(seconds=10)
"""How long a lease (and a node's heartbeat) lasts without renewal: a killed process's partitions
are free this long after its last renewal."""
RENEW_EVERY = timedelta(seconds=2)
"""How often a node renews its leases and heartbeat, takes free partitions and gives back
extra ones: five renewals fit in one TTL, so a slow database round does not lose a lease."""
PEER_KEY_FIELD = "peer_key"
"""Where a node's key sits in its row's ``shared_settings`` (not a setting: never compared)."""


class LeaseLost(RuntimeError):
    """Leases this process counted on are no longer its own (expired and taken over)."""

    def __init__(self, lost: frozenset[Lease]) -> None:
        super().__init__(f"partitions {sorted(lease.partition for lease in lost)} taken over")
        self.lost = lost


@dataclass(frozen=True, slots=True, order=True)
class Lease:
    """One partition held at one epoch."""

    partition: int
    epoch: int


def fair_share(partitions: int, live_nodes: int) -> int:
    """How many partitions one of ``live_nodes`` nodes should hold: ``ceil(partitions / n)``."""
    return math.ceil(partitions / max(1, live_nodes))


class LeaseStore:
    """The lease statements of node ``node_id`` over ``partitions`` partitions."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        node_id: str,
        partitions: int,
        shared: Mapping[str, str] | None = None,
    ) -> None:
        if partitions < 1:
            raise ConfigError(f"GATEWAY_PARTITIONS must be at least 1, not {partitions}")
        self._engine = engine
        self._clock = clock
        self.node_id = node_id
        self.partitions = partitions
        self._shared = dict(shared or {})
        """Setting name → this process's value, which every live node must have too."""
        self._skip_locked = engine.dialect.name == "postgresql"
        self.peer_key = secrets.token_hex(32)
        """This node's key for the commands it forwards, drawn anew at each start."""

    def check_peers(self) -> None:
        """Raises ``ConfigError`` when a live node has another value of a setting every
        process must share, naming the setting, both values and the node. For a process
        about to start: before it changes anything (a gateway without a core turns the
        events waiting for one into the record)."""
        with Session(self._engine) as session:
            self._refuse_other_settings(session, self._clock.now())

    def _refuse_other_settings(self, session: Session, now: datetime) -> None:
        if not self._shared:
            return
        peers = session.execute(
            select(NodeRow.node_id, NodeRow.shared_settings)
            .where(
                NodeRow.node_id != self.node_id,
                NodeRow.expires_at > now,
                NodeRow.shared_settings.is_not(None),
            )
            .order_by(NodeRow.node_id)
        ).all()
        for node, text in peers:
            theirs = json.loads(text)
            for name, mine in sorted(self._shared.items()):
                if name in theirs and theirs[name] != mine:
                    raise ConfigError(
                        f"{name} is {mine} here but {theirs[name]} on node {node}, which is "
                        "running: every process of a gateway must share it (docs/scaling.md)"
                    )

    def join(self, api_url: str | None) -> None:
        """Create the partition rows if missing and write this node's first heartbeat.

        Raises ``ConfigError`` when the database was set up with another number of partitions
        (every process must use the same ``GATEWAY_PARTITIONS``), or on SQLite when another
        live node is there (SQLite serves one process).
        """
        now = self._clock.now()
        rows = [
            {"partition": p, "node_id": None, "epoch": 0, "expires_at": None}
            for p in range(self.partitions)
        ]
        insert = postgresql_insert if self._skip_locked else sqlite_insert
        with Session(self._engine) as session, session.begin():
            # Processes starting together race to create the rows: whoever comes second
            # inserts nothing.
            existing = set(session.scalars(select(PartitionRow.partition)))
            if not existing:
                session.execute(insert(PartitionRow).values(rows).on_conflict_do_nothing())
                existing = set(session.scalars(select(PartitionRow.partition)))
            if existing != set(range(self.partitions)):
                raise ConfigError(
                    f"GATEWAY_PARTITIONS={self.partitions}, but the database is partitioned in "
                    f"{len(existing)}: every process of a gateway must use the same number (to "
                    "change it, stop them all and clear cluster_partitions)"
                )
            if self._engine.dialect.name == "sqlite":
                others = session.scalars(
                    select(NodeRow.node_id).where(
                        NodeRow.node_id != self.node_id, NodeRow.expires_at > now
                    )
                ).all()
                if others:
                    raise ConfigError(
                        f"node {others[0]} is running on this SQLite database: SQLite serves "
                        "one process; run several processes on PostgreSQL"
                    )
            self._refuse_other_settings(session, now)  # one may have started since the check
            shared = json.dumps({**self._shared, PEER_KEY_FIELD: self.peer_key}, sort_keys=True)
            row = session.get(NodeRow, self.node_id)
            if row is None:
                session.add(
                    NodeRow(
                        node_id=self.node_id,
                        api_url=api_url,
                        started_at=now,
                        expires_at=now + LEASE_TTL,
                        shared_settings=shared,
                    )
                )
            else:
                row.api_url = api_url
                row.expires_at = now + LEASE_TTL
                row.shared_settings = shared

    def heartbeat(self) -> int:
        """Renew this node's heartbeat; returns the number of live nodes, this one included."""
        now = self._clock.now()
        with Session(self._engine) as session, session.begin():
            session.execute(
                update(NodeRow)
                .where(NodeRow.node_id == self.node_id)
                .values(expires_at=now + LEASE_TTL)
            )
            live = session.scalar(
                select(func.count()).select_from(NodeRow).where(NodeRow.expires_at > now)
            )
        return max(1, int(live or 0))

    def renew(self, held: set[Lease]) -> set[Lease]:
        """Extend every lease of ``held`` still this node's at its epoch; returns those renewed
        (the others were lost: expired and taken, or released by hand)."""
        if not held:
            return set()
        now = self._clock.now()
        renewed: set[Lease] = set()
        with Session(self._engine) as session, session.begin():
            for lease in sorted(held):
                done = session.execute(
                    update(PartitionRow)
                    .where(self._mine(lease))
                    .values(expires_at=now + LEASE_TTL)
                    .returning(PartitionRow.partition)
                ).first()
                if done is not None:
                    renewed.add(lease)
        return renewed

    def acquire(self, count: int) -> list[Lease]:
        """Take up to ``count`` free or expired partitions (lowest first); returns the new
        leases, each at an epoch one above the partition's last."""
        if count < 1:
            return []
        now = self._clock.now()
        free = or_(PartitionRow.node_id.is_(None), PartitionRow.expires_at <= now)
        taken: list[Lease] = []
        with Session(self._engine) as session, session.begin():
            candidates = select(PartitionRow.partition).where(free).order_by(PartitionRow.partition)
            if self._skip_locked:
                candidates = candidates.with_for_update(skip_locked=True)
            for partition in session.scalars(candidates.limit(count)).all():
                epoch = session.execute(
                    update(PartitionRow)
                    .where(PartitionRow.partition == partition, free)
                    .values(
                        node_id=self.node_id,
                        epoch=PartitionRow.epoch + 1,
                        expires_at=now + LEASE_TTL,
                    )
                    .returning(PartitionRow.epoch)
                ).scalar_one_or_none()
                if epoch is not None:
                    taken.append(Lease(partition, epoch))
        return taken

    def release(self, lease: Lease) -> bool:
        """Give ``lease`` back (free at once for the next taker); False if it was not ours."""
        with Session(self._engine) as session, session.begin():
            done = session.execute(
                update(PartitionRow)
                .where(self._mine(lease))
                .values(node_id=None, expires_at=None)
                .returning(PartitionRow.partition)
            ).first()
        return done is not None

    def leave(self, held: set[Lease]) -> None:
        """Release every lease of ``held`` and remove this node's row (a clean stop)."""
        for lease in held:
            self.release(lease)
        with Session(self._engine) as session, session.begin():
            session.execute(delete(NodeRow).where(NodeRow.node_id == self.node_id))

    def fence(self, session: Session, held: frozenset[Lease]) -> None:
        """Inside a writing transaction: raise ``LeaseLost`` unless every lease of ``held`` is
        still this node's at its epoch and unexpired.

        On PostgreSQL the rows are read ``FOR SHARE``: a takeover's ``UPDATE`` of them waits
        until this transaction ends, so the new owner reads the states it wrote, and a
        transaction that finds a lease gone rolls back instead of committing.
        """
        if not held:
            return
        now = self._clock.now()
        query = select(PartitionRow.partition, PartitionRow.epoch).where(
            PartitionRow.partition.in_([lease.partition for lease in held]),
            PartitionRow.node_id == self.node_id,
            PartitionRow.expires_at > now,
        )
        if self._skip_locked:
            query = query.with_for_update(read=True)
        found = {Lease(p, e) for p, e in session.execute(query).all()}
        lost = held - found
        if lost:
            raise LeaseLost(lost)

    def peer_key_of(self, node_id: str) -> PeerKey | None:
        """The key live node ``node_id`` signs its forwarded commands with, and until when its
        last heartbeat keeps it live; ``None`` for a node not live (stopped, dead past its
        heartbeat) or that recorded none."""
        with Session(self._engine) as session:
            row = session.execute(
                select(NodeRow.shared_settings, NodeRow.expires_at).where(
                    NodeRow.node_id == node_id, NodeRow.expires_at > self._clock.now()
                )
            ).first()
        if row is None or row.shared_settings is None:
            return None
        key = json.loads(row.shared_settings).get(PEER_KEY_FIELD)
        return PeerKey(key, row.expires_at) if isinstance(key, str) else None

    def owners(self) -> dict[int, tuple[str, str | None]]:
        """Partition → (node id, its API URL) for every partition held by a live lease."""
        now = self._clock.now()
        query = (
            select(PartitionRow.partition, PartitionRow.node_id, NodeRow.api_url)
            .join(NodeRow, NodeRow.node_id == PartitionRow.node_id)
            .where(PartitionRow.expires_at > now)
        )
        with Session(self._engine) as session:
            return {p: (node, url) for p, node, url in session.execute(query).all()}

    def _mine(self, lease: Lease) -> ColumnElement[bool]:
        return and_(
            PartitionRow.partition == lease.partition,
            PartitionRow.epoch == lease.epoch,
            PartitionRow.node_id == self.node_id,
        )
