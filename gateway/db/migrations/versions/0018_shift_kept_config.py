"""A shift keeps what its duty needs of a guard or post a site load took out of the file.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 09:00:00.000000

A load that takes a guard (or his post) out of the file deletes the rows the roster index
builds a shift's duty from, while that shift may still owe something (the hour to cancel a
leave used that morning). A gateway running at the load kept the duty it had; one started
after the load had none, and the obligation was lost. ``kept_config`` holds, on the shift
rows of such a guard or post, the guard's name and team, the post's name and fence, and the
devices that were his or at the post, written by the load (``gateway.db.kept_config``). It is
null for every other shift.

A downgrade drops the column: the older gateway builds no duty for such a shift once it
restarts (the ledger's record stays).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shifts") as batch:
        batch.add_column(sa.Column("kept_config", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shifts") as batch:
        batch.drop_column("kept_config")
