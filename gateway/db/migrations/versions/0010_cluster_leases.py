"""Cluster leases: the processes of one gateway (nodes) and the partitions they hold.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 16:20:00.000000

``cluster_nodes`` has one row per running ``guard-gateway run`` (its heartbeat and API URL);
``cluster_partitions`` one row per partition of the guards, whose owner, epoch and expiry make
its lease (``gateway.cluster.leases``). A single process (``GATEWAY_PARTITIONS=1``) never
writes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cluster_nodes",
        sa.Column("node_id", sa.String(length=128), nullable=False),
        sa.Column("api_url", sa.String(length=512), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_cluster_nodes")),
    )
    op.create_table(
        "cluster_partitions",
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node_id", sa.String(length=128), nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("partition", name=op.f("pk_cluster_partitions")),
    )


def downgrade() -> None:
    op.drop_table("cluster_partitions")
    op.drop_table("cluster_nodes")
