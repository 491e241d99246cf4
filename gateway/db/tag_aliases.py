"""What a read in a short form names: the checkpoint or guard's card whose EM4100 id reduces to it.

A reader set to ``decimal``, ``wiegand34`` or ``wiegand26`` output delivers part of an EM4100
id (``gateway.site.tag_forms``). Such a read, made by a reader of a site, names:

* the checkpoint tag or card written in the site file exactly as read (a file may name a card by
  the decimal number printed on it, or a tag by its Wiegand ``facility:card``), and
* each checkpoint tag and card of that site whose full EM4100 id reduces to it
  (``tag_aliases``, written by the site load: one indexed look-up, however many cards).

It is the read of that one owner when they all are the same checkpoint or the same guard; when
they are two (two cards sharing their low 32 or 24 bits, which ``site check`` names in a
notice), it is nobody's: reported as an unknown tag or person, never given to one at random.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.patrol_models import CheckpointTagRow, GuardCredentialRow, TagAliasRow
from gateway.records import CheckpointScan
from gateway.site.tag_forms import ReadForm, TagOwner, read_form

__all__ = ["ambiguous_scans", "owner_of_read", "owners_of_read"]


def owners_of_read(session: Session, site_id: str, form: ReadForm, tag: str) -> set[TagOwner]:
    """Every checkpoint and guard that ``tag`` (normalised), read in ``form`` by a reader of
    ``site_id``, may name (module docstring)."""
    owners: set[TagOwner] = set()
    checkpoint = session.scalar(
        select(CheckpointTagRow.checkpoint_id).where(CheckpointTagRow.tag_id == tag)
    )
    if checkpoint is not None:
        owners.add(TagOwner("checkpoint", checkpoint))
    guard = session.scalar(
        select(GuardCredentialRow.guard_id).where(
            GuardCredentialRow.site_id == site_id,
            GuardCredentialRow.kind == "card",
            GuardCredentialRow.value == tag,
        )
    )
    if guard is not None:
        owners.add(TagOwner("guard", guard))
    aliases = session.execute(
        select(TagAliasRow.checkpoint_id, TagAliasRow.guard_id).where(
            TagAliasRow.site_id == site_id,
            TagAliasRow.form == form.value,
            TagAliasRow.alias == tag,
        )
    )
    for checkpoint_id, guard_id in aliases:
        if checkpoint_id is not None:
            owners.add(TagOwner("checkpoint", checkpoint_id))
        elif guard_id is not None:
            owners.add(TagOwner("guard", guard_id))
    return owners


def owner_of_read(session: Session, site_id: str, form: ReadForm, tag: str) -> TagOwner | None:
    """The one checkpoint or guard ``tag`` read in ``form`` at ``site_id`` names; ``None`` when
    it names none, or more than one (ambiguous: module docstring)."""
    owners = owners_of_read(session, site_id, form, tag)
    return next(iter(owners)) if len(owners) == 1 else None


def ambiguous_scans(session: Session, site_id: str, scans: Iterable[CheckpointScan]) -> int:
    """How many of ``scans``, made by a reader or wand of ``site_id``, were read in a short
    form (their ``source_format``) that names more than one checkpoint or card: each names
    none."""
    count = 0
    for scan in scans:
        form = read_form(scan.source_format)
        if form is not None and len(owners_of_read(session, site_id, form, scan.tag_id)) > 1:
            count += 1
    return count
