"""Punches handed from the process that received them to the one running their guard's rules.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 23:00:00.000000

In a partitioned gateway a clock-in terminal talks to one process, whatever partition the
guard who punched belongs to. The punch is stored there and, when another process holds the
guard, named in ``relayed_punches``; that process applies it and deletes the row in one
transaction (``gateway.pipeline.relay``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relayed_punches",
        sa.Column(
            "punch_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("guard_id", sa.String(length=64), nullable=False),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["punch_id"],
            ["punches.id"],
            name=op.f("fk_relayed_punches_punch_id_punches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("punch_id", name=op.f("pk_relayed_punches")),
    )


def downgrade() -> None:
    op.drop_table("relayed_punches")
