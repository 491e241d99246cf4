"""Each process of a partitioned gateway records the settings its peers must share.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 02:00:00.000000

A process started beside running ones with another ``GATEWAY_CORE_URL`` (none), MQTT client id
prefix or topic prefix lost what the others kept: without a core it turned every event waiting
for the core, its peers' too, into the record only, and wrote the events of the guards it took
over for no core; with another client id or topic prefix, the messages queued in its peers'
partition sessions, or its guards' topics, were nobody's. Each node now writes those settings
in ``cluster_nodes.shared_settings`` (JSON) when it joins, and a process whose own differ from
a live node's is refused before it changes anything (``gateway.cluster.leases``).

A downgrade drops the column: the older gateway compares only the number of partitions.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cluster_nodes") as batch:
        batch.add_column(sa.Column("shared_settings", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cluster_nodes") as batch:
        batch.drop_column("shared_settings")
