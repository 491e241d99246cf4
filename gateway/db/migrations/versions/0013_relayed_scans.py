"""Checkpoint scans handed from the process that received them to the one running their guard's
rules.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 05:00:00.000000

In a partitioned gateway a checkpoint reader is read by one process, whatever partition the
guard it names belongs to. The scan is stored there and, when another process holds the guard,
named in ``relayed_scans``; that process applies it and deletes the row in one transaction
(``gateway.pipeline.relay``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relayed_scans",
        sa.Column(
            "scan_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("guard_id", sa.String(length=64), nullable=False),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_relayed_scans_scan_id_scans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scan_id", name=op.f("pk_relayed_scans")),
    )


def downgrade() -> None:
    op.drop_table("relayed_scans")
