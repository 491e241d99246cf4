"""A shift written after it began remembers when the gateway learned of it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 03:00:00.000000

A site loaded for the first time at 10:30 writes its 08:00 shifts as they stand (the day's
record starts at 08:00), but nothing could have expected the guard on post at 08:10 before the
file existed: the first tick raised ``alert.absent_at_shift_start`` and ``alert.device_silent``
dated 08:10 for every guard whose terminal had not yet reported from his post. ``known_from``
is the instant of that load; the rules count the arrival grace, the silence limit, the
clock-in grace and the patrol rounds from it (``gateway.site.shift_writes``). It is null for a
shift written before its start, which is every shift but those.

A downgrade drops the column: the older gateway counts from the shift start again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shifts") as batch:
        batch.add_column(sa.Column("known_from", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shifts") as batch:
        batch.drop_column("known_from")
