"""Leaders' group robots (WeCom, DingTalk): outbox destinations configured by the site file.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "robots",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("webhook_ref", sa.String(length=64), nullable=False),
        sa.Column("secret_ref", sa.String(length=64), nullable=True),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("teams", sa.JSON(), nullable=False),
        sa.Column("leader_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_robots_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robots")),
    )
    op.create_index(op.f("ix_robots_site_id"), "robots", ["site_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_robots_site_id"), table_name="robots")
    op.drop_table("robots")
