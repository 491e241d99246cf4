"""Alert lifecycle: notes on acknowledgement and hand resolution, escalation once, and the
leader hierarchy escalation follows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 15:00:00.000000

``alerts.escalated_at`` is set once, in the transaction that writes the ``alert.escalated``
event, so a restart neither forgets nor repeats an escalation. ``leaders.reports_to`` names the
leader one level up (the site file's ``leaders[].reports_to``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("acknowledged_note", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("resolved_note", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("escalated_to", sa.JSON(), nullable=True))
    with op.batch_alter_table("leaders") as batch:
        batch.add_column(sa.Column("reports_to", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leaders") as batch:
        batch.drop_column("reports_to")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("escalated_to")
        batch.drop_column("escalated_at")
        batch.drop_column("resolved_note")
        batch.drop_column("acknowledged_note")
