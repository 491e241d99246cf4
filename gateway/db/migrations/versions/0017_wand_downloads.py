"""When each offline patrol wand was last downloaded.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 12:00:00.000000

A round walked with a wand is judged when the wand is downloaded (``gateway.rules.patrol_wands``).
The process that imports the log records the download here, in the same transaction as its
scans; every process reads it to tell the patrol machines it holds (``gateway.pipeline.relay``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wand_downloads",
        sa.Column("wand_id", sa.String(length=64), nullable=False),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("wand_id", name=op.f("pk_wand_downloads")),
    )


def downgrade() -> None:
    op.drop_table("wand_downloads")
