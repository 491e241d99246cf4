"""Shifts that have ended survive a site load: their guard and post are plain ids.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 01:00:00.000000

A site load replaced every shift of the site, the ended ones too, and those are the ledger's
record of each past day: reloading an unchanged file five days later left the ledger of every
day before it without a shift. The load now keeps ended shifts (``gateway.site.store``), also
when the new file no longer names their guard or post, which the foreign keys from
``shifts.guard_id`` and ``shifts.post_id`` would refuse. Positions, alerts and reports already
hold guard ids as plain ids for the same reason.

A shift under way that the new file changes or moves is ended at the load and kept as the
record of its part (``cut_short``); no rule runs for it after that.

A downgrade restores the keys; it first deletes the shifts whose guard or post is gone, which
the older schema cannot hold. It drops ``cut_short``: the older gateway would run the rules of
a shift cut short again, so those shifts are deleted too.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS = (("guard_id", "guards"), ("post_id", "posts"))


def upgrade() -> None:
    with op.batch_alter_table("shifts") as batch:
        for column, table in _KEYS:
            batch.drop_constraint(op.f(f"fk_shifts_{column}_{table}"), type_="foreignkey")
        batch.add_column(
            sa.Column("cut_short", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM shifts WHERE cut_short"))
    for column, table in _KEYS:
        op.execute(sa.text(f"DELETE FROM shifts WHERE {column} NOT IN (SELECT id FROM {table})"))
    with op.batch_alter_table("shifts") as batch:
        batch.drop_column("cut_short")
        for column, table in _KEYS:
            batch.create_foreign_key(op.f(f"fk_shifts_{column}_{table}"), table, [column], ["id"])
