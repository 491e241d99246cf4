"""Every foreign key column indexed: the ones pointing at posts and checkpoints had none.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 23:10:00.000000

A site load replaces its rows: shifts, devices and checkpoints first, then the posts. For each
post deleted PostgreSQL checks that no row still refers to it; without an index on the
referring column that check reads the whole table, the rows deleted in the same transaction
included. Reloading a site of 20,000 posts spent 32.4 s on the posts alone (1.5 s with these
indexes); at 100,000 posts the time grows with the square. SQLite gains the same on a delete
with its foreign keys on.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("shifts", "post_id"),
    ("devices", "post_id"),
    ("checkpoints", "post_id"),
    ("route_checkpoints", "checkpoint_id"),
)


def upgrade() -> None:
    for table, column in _INDEXES:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(_INDEXES):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
