"""A ZKTeco PUSH terminal may be bound to the addresses it speaks from.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 04:00:00.000000

A PUSH terminal names itself by its serial number alone, printed on its label: anyone on the
LAN who knew it could upload punches in its name. ``devices.addresses`` holds its site file
``address`` (networks in CIDR form, separated by spaces); a request for its serial number from
any other peer is refused. Existing terminals have none and are answered from anywhere, as
before, until the site file gives them one and is loaded again.

A downgrade drops the column: the terminals are answered from anywhere again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("addresses", sa.String(length=720), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("addresses")
