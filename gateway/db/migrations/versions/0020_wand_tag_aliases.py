"""A patrol wand's decimal or Wiegand download matches the EM4100 ids in the site file.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 09:00:00.000000

A wand that downloads its tags as 10 decimal digits (the low 32 bits of the EM4100 id) or as
Wiegand ``facility:card`` (the low 24) had every scan of a tag the site file names by its 10 hex
digits reported as an unknown tag. The site load now also stores, for each site with patrol
wands, its tags' and cards' EM4100 ids in the short forms its wands download
(``gateway.site.tag_forms``: the wand's ``variant``, both forms for a wand without one, none for
``hex``), in ``tag_aliases`` as for decimal and Wiegand readers.

No column changes. The upgrade adds those rows for the sites already stored (those that a
reader's form had already are kept), so a running installation matches its wands' downloads
without loading its files again; the arithmetic is repeated here, as in 0019, so that this
revision keeps doing what it did whatever the code becomes. A downgrade removes the rows of
forms no reader of the site delivers: what 0019 left.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_READER_FORMS = {"decimal": "decimal", "wiegand34": "decimal", "wiegand26": "wiegand26"}
_WAND_FORMS = {None: ("decimal", "wiegand26"), "decimal": ("decimal",), "wiegand26": ("wiegand26",)}
_HEX = frozenset("0123456789ABCDEF")
_ALIASES = sa.table(
    "tag_aliases",
    sa.column("site_id", sa.String),
    sa.column("form", sa.String),
    sa.column("alias", sa.String),
    sa.column("tag_id", sa.String),
    sa.column("checkpoint_id", sa.String),
    sa.column("guard_id", sa.String),
)


def upgrade() -> None:
    bind = op.get_bind()
    existing = {
        (site_id, form, alias, tag_id)
        for site_id, form, alias, tag_id in bind.execute(
            sa.select(_ALIASES.c.site_id, _ALIASES.c.form, _ALIASES.c.alias, _ALIASES.c.tag_id)
        )
    }
    rows = [
        row
        for row in _aliases(bind, _forms(bind, "patrol_wand"))
        if (row["site_id"], row["form"], row["alias"], row["tag_id"]) not in existing
    ]
    if rows:
        op.bulk_insert(_ALIASES, rows)


def downgrade() -> None:
    bind = op.get_bind()
    kept = _forms(bind, "em4100_reader")
    for site_id, forms in _forms(bind, "patrol_wand").items():
        for form in sorted(forms - kept.get(site_id, set())):
            bind.execute(
                sa.delete(_ALIASES).where(_ALIASES.c.site_id == site_id, _ALIASES.c.form == form)
            )


def _forms(bind: sa.Connection, kind: str) -> dict[str, set[str]]:
    """site id -> the short forms its devices of ``kind`` deliver."""
    forms: dict[str, set[str]] = {}
    devices = bind.execute(
        sa.text("SELECT site_id, variant FROM devices WHERE kind = :kind"), {"kind": kind}
    )
    for site_id, variant in devices:
        if kind == "patrol_wand":
            delivered: Sequence[str] = _WAND_FORMS.get(variant, ())
        else:
            reader_form = _READER_FORMS.get(variant or "")
            delivered = () if reader_form is None else (reader_form,)
        forms.setdefault(site_id, set()).update(delivered)
    return forms


def _short_forms(tag_id: str) -> dict[str, str]:
    if len(tag_id) != 10 or not _HEX.issuperset(tag_id):
        return {}
    value = int(tag_id, 16)
    low24 = value & 0xFFFFFF
    return {"decimal": f"{value & 0xFFFFFFFF:010d}", "wiegand26": f"{low24 >> 16}:{low24 & 0xFFFF}"}


def _aliases(bind: sa.Connection, forms: dict[str, set[str]]) -> list[dict[str, Any]]:
    """The alias rows of the stored tags and cards in ``forms`` (site id -> forms)."""
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
