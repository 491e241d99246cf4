"""An index on the end of shifts, so the roster window is found without reading the history.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:00:00.000000

The pipeline reads the shifts around now (``ends_at > now - 2 days``) and the rule states
joined on them at every reload; the index on ``(starts_at, ends_at)`` serves ``starts_at < x``,
which every past shift meets, so the cost grew with the history. ``ix_shifts_ends`` serves
``ends_at > now - 2 days``, which only the shifts of these days meet.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_shifts_ends", "shifts", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_shifts_ends", table_name="shifts")
