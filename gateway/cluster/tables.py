"""The tables of a gateway running as several processes: one row per process (node), one per
partition, whose owner, epoch and expiry make the partition's lease, and the punches and scans
waiting for the process that runs their guard's rules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import ID_LENGTH, Base, BigId, UtcDateTime

__all__ = ["NodeRow", "PartitionRow", "RelayedPunchRow", "RelayedScanRow"]


class NodeRow(Base):
    """A running ``guard-gateway run`` process: alive while ``expires_at`` is in the future
    (it renews it every few seconds), reachable for API calls at ``api_url``.
    ``shared_settings``: the settings every process must share, as this one has them (JSON;
    ``gateway.cluster.wiring.shared_settings``), which a process starting beside it compares,
    and the key it signs the commands it forwards with (``gateway.cluster.peer_auth``)."""

    __tablename__ = "cluster_nodes"

    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    api_url: Mapped[str | None] = mapped_column(String(512), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    shared_settings: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class PartitionRow(Base):
    """One partition of the guards: held by ``node_id`` until ``expires_at``; free when
    ``node_id`` is null or the lease expired. ``epoch`` grows by one at every acquisition, so
    a process whose lease was taken over finds it changed (the fence)."""

    __tablename__ = "cluster_partitions"

    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    node_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    epoch: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class RelayedPunchRow(Base):
    """A stored punch of a guard whose rules another process runs: the process holding his
    partition applies it to his attendance and deletes this row in the same transaction
    (``gateway.pipeline.relay``)."""

    __tablename__ = "relayed_punches"

    punch_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("punches.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    guard_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    relayed_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class RelayedScanRow(Base):
    """A stored checkpoint scan attributed to a guard whose rules another process runs (his
    wand, his card, or the one guard on duty at the reader's post): the process holding his
    partition applies it to his patrol and presence and deletes this row in the same
    transaction (``gateway.pipeline.relay``)."""

    __tablename__ = "relayed_scans"

    scan_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    guard_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    relayed_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
