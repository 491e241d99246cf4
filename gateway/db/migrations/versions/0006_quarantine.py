"""The quarantine: inputs that failed on their own, kept with their reason.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 13:30:00.000000

See ``gateway.db.quarantine``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("topic", sa.String(256), nullable=True),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("raw_encoding", sa.String(8), nullable=False),
        sa.Column("raw_size", sa.Integer(), nullable=False),
        sa.Column("reason_key", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    op.create_index(
        op.f("ix_quarantine_quarantined_at"), "quarantine", ["quarantined_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_quarantine_quarantined_at"), table_name="quarantine")
    op.drop_table("quarantine")
