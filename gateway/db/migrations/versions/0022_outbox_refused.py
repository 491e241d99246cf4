"""An event the management core refuses for its content is set aside, no longer stalling its guard.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 04:00:00.000000

A core one version behind the gateway's event catalogue answers 400 or 422 to a type it does
not know yet. The gateway retried that event for ever on its longest back-off, and since
delivery keeps order per guard, every later event of that guard, his SOS included, waited
behind it. ``outbox.refused_at`` now marks an event refused for itself: kept, out of the
delivery order, listed by ``guard-gateway outbox refused`` and sent again, same id and bytes,
by ``guard-gateway outbox retry``.

A downgrade drops the column: the rows it marked become ordinary undelivered rows again,
which the older gateway retries (and stalls on) as before; nothing is lost.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("refused_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("refused_at")
