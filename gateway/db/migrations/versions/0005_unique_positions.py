"""Positions unique by (device, fix time): a fix delivered again is stored once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 12:00:00.000000

Rows stored twice before this revision (a QoS 1 redelivery or a re-sent offline batch that
reached the store after a restart) are deleted first, keeping the earliest stored of each
(device, fix time): the lowest ``id``. The non-unique index on the same columns is replaced by
the unique one. A unique *index* rather than a table constraint: SQLite creates and drops it
in place (no batch rebuild of the table), and ``INSERT ... ON CONFLICT (device_id, fix_time)``
uses it on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Portable SQL (SQLite and PostgreSQL); the correlated subquery walks the (device_id, fix_time)
# index still in place, so it costs one index probe per row.
_DELETE_LATER_COPIES = sa.text(
    "DELETE FROM positions WHERE EXISTS ("
    " SELECT 1 FROM positions AS earlier"
    " WHERE earlier.device_id = positions.device_id"
    " AND earlier.fix_time = positions.fix_time"
    " AND earlier.id < positions.id)"
)


def upgrade() -> None:
    op.get_bind().execute(_DELETE_LATER_COPIES)
    op.drop_index("ix_positions_device_fix_time", table_name="positions")
    op.create_index(
        "uq_positions_device_fix_time", "positions", ["device_id", "fix_time"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_positions_device_fix_time", table_name="positions")
    op.create_index(
        "ix_positions_device_fix_time", "positions", ["device_id", "fix_time"], unique=False
    )
