"""Cards and tags named by their EM4100 id are found from a decimal or Wiegand reader's read.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 09:00:00.000000

A reader set to decimal output (or Wiegand 26/34) delivers only the low 32 (24) bits of an
EM4100 id, so a card the site file names by its 10 hex digits was never matched: every punch at
such a gate was ``attendance.unknown_person``, every checkpoint scan an unknown tag. The site
load now stores each EM4100 id of a site's checkpoint tags and guards' cards in the short forms
its readers deliver (``gateway.site.tag_forms``); a read in that form is looked up there.

The upgrade fills the table for the sites already stored, from their readers' variants, so a
running installation matches those reads without loading its files again. The arithmetic is
repeated here (the low 32 bits as 10 digits; the low 24 as ``facility:card``, no leading
zeros) so that this revision keeps doing what it did whatever the code becomes.

A downgrade drops the table: the older gateway matches ids as written only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FORM_OF_VARIANT = {"decimal": "decimal", "wiegand34": "decimal", "wiegand26": "wiegand26"}
_HEX = frozenset("0123456789ABCDEF")


def upgrade() -> None:
    aliases = op.create_table(
        "tag_aliases",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("form", sa.String(length=16), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("tag_id", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_id", sa.String(length=64), nullable=True),
        sa.Column("guard_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.id"],
            name=op.f("fk_tag_aliases_checkpoint_id_checkpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["guard_id"], ["guards.id"], name=op.f("fk_tag_aliases_guard_id_guards")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_tag_aliases_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("site_id", "form", "alias", "tag_id", name=op.f("pk_tag_aliases")),
    )
    op.create_index(
        op.f("ix_tag_aliases_checkpoint_id"), "tag_aliases", ["checkpoint_id"], unique=False
    )
    op.create_index(op.f("ix_tag_aliases_guard_id"), "tag_aliases", ["guard_id"], unique=False)
    rows = _aliases_of_stored_sites(op.get_bind())
    if rows:
        op.bulk_insert(aliases, rows)


def downgrade() -> None:
    op.drop_index(op.f("ix_tag_aliases_guard_id"), table_name="tag_aliases")
    op.drop_index(op.f("ix_tag_aliases_checkpoint_id"), table_name="tag_aliases")
    op.drop_table("tag_aliases")


def _short_forms(tag_id: str) -> dict[str, str]:
    if len(tag_id) != 10 or not _HEX.issuperset(tag_id):
        return {}
    value = int(tag_id, 16)
    low24 = value & 0xFFFFFF
    return {"decimal": f"{value & 0xFFFFFFFF:010d}", "wiegand26": f"{low24 >> 16}:{low24 & 0xFFFF}"}


def _aliases_of_stored_sites(bind: sa.Connection) -> list[dict[str, Any]]:
    forms: dict[str, set[str]] = {}
    devices = bind.execute(
        sa.text("SELECT site_id, variant FROM devices WHERE kind = 'em4100_reader'")
    )
    for site_id, variant in devices:
        form = _FORM_OF_VARIANT.get(variant or "")
        if form is not None:
            forms.setdefault(site_id, set()).add(form)
    if not forms:
        return []
    owned = [
        (site_id, tag_id, checkpoint_id, None)
        for site_id, tag_id, checkpoint_id in bind.execute(
            sa.text("SELECT site_id, tag_id, checkpoint_id FROM checkpoint_tags")
        )
    ]
    owned += [
        (site_id, value, None, guard_id)
        for site_id, value, guard_id in bind.execute(
            sa.text("SELECT site_id, value, guard_id FROM guard_credentials WHERE kind = 'card'")
        )
    ]
    return [
        {
            "site_id": site_id,
            "form": form,
            "alias": alias,
            "tag_id": tag_id,
            "checkpoint_id": checkpoint_id,
            "guard_id": guard_id,
        }
        for site_id, tag_id, checkpoint_id, guard_id in owned
        for form, alias in _short_forms(tag_id).items()
        if form in forms.get(site_id, ())
    ]
