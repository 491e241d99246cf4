"""Indexes the retention purge walks: positions by fix time, outbox rows by delivery time.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00.000000

Without them each bounded purge batch (``gateway.privacy.retention``) would scan the whole
table to find its next few thousand rows; with them a batch costs an index range scan.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_positions_fix_time", "positions", ["fix_time"], unique=False)
    op.create_index("ix_outbox_delivered_at", "outbox", ["delivered_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_delivered_at", table_name="outbox")
    op.drop_index("ix_positions_fix_time", table_name="positions")
