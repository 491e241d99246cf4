"""Which guard a checkpoint scan names: evidence for the guard whose tag or card it read,
never for every guard on duty at the post.

* A reader the guard carries (a wand, a handheld bound to him) names him.
* A guard's own card shown to a reader names the card's holder.
* A checkpoint tag read by a reader fixed at a post names nobody by itself: it is the scan of
  the one guard on duty at that post, and of nobody when several are (``unattributed``) or
  none is (``nobody_on_duty``). The guards on duty are counted wherever their rules run (in a
  partitioned gateway, also those another process holds), so a scan is named the same in
  every process.

Whether the guard named is on duty where the scan was read is for his own rules to judge
(``PatrolStage.apply_scan``), in the process that holds him; so is whether a checkpoint's tag
was read at its checkpoint at all (``read_away``): a reader fixed at another post that reads it
was shown the tag there (a checkpoint card carried, or copied, to a booth's reader), which is no
visit to the checkpoint.

A read in a short form (``gateway.site.tag_forms``) names what the reader's site has under it
(``gateway.db.tag_aliases``); when that is nothing, the checkpoint of another site whose tag
reduces to it (``Reductions``), as its full id read by that reader would name it: a checkpoint
tag read away, however the reader writes it, not an unknown tag. A read naming more than one
owner is *ambiguous* (``short_read``): it names nobody.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.db import patrol_repository as prepo
from gateway.db.patrol_models import CheckpointRow
from gateway.db.tag_aliases import owners_of_read
from gateway.pipeline.duty import DutyIndex
from gateway.records import CheckpointScan
from gateway.site.schema import normalise_tag_id
from gateway.site.tag_forms import ReadForm, TagOwner, read_form
from gateway.wand import is_wand_log

__all__ = [
    "Reductions",
    "ScanNaming",
    "ShortRead",
    "card_holder",
    "checkpoint_of",
    "name_scan",
    "read_away",
    "short_read",
]

Reductions = Mapping[tuple[ReadForm, str], frozenset[tuple[str, str]]]
"""Each short form of every checkpoint tag of every site → the ``(checkpoint id, post id)``
whose tags reduce to it (``gateway.pipeline.patrol_routes``)."""


@dataclass(frozen=True, slots=True)
class ShortRead:
    """What a read in a short form may name: ``owners`` (one: it names it; more: ambiguous),
    with ``posts``, the post of each checkpoint among them found at another site."""

    form: ReadForm
    tag: str
    """The read, normalised."""
    owners: frozenset[TagOwner]
    posts: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ScanNaming:
    """The guard a scan names, or why it names nobody (``miss``: the ``scans.*`` counter)."""

    guard_id: str | None
    miss: str = ""


def name_scan(
    duties: DutyIndex, scan: CheckpointScan, post_id: str | None, card_holder: str | None
) -> ScanNaming:
    """Name the guard of ``scan``: ``post_id`` is the post of the checkpoint its tag marks
    (``None``: the tag is no checkpoint's), ``card_holder`` the guard whose own card the tag is
    (looked up only for a tag that is no checkpoint's)."""
    if post_id is None:
        if card_holder is None:
            return ScanNaming(None, "unknown_tag")
        return ScanNaming(card_holder)
    carrier = duties.guard_of_device(scan.reader_id)
    if carrier is not None:
        return ScanNaming(carrier)
    here = duties.at_post(post_id, scan.scanned_at)
    elsewhere = duties.elsewhere_at_post(post_id, scan.scanned_at)
    if len(here) + len(elsewhere) > 1:
        return ScanNaming(None, "unattributed")
    if here:
        return ScanNaming(here[0].guard_id)
    if elsewhere:
        return ScanNaming(elsewhere[0])
    return ScanNaming(None, "nobody_on_duty")


def read_away(duties: DutyIndex, scan: CheckpointScan, post_id: str) -> bool:
    """Whether ``scan`` of a checkpoint tag at ``post_id`` was read by a reader fixed at another
    post (module docstring). A wand's scans are not: a wand is carried to the checkpoints, and
    the post it is kept at is where it waits for its download."""
    reader_post = duties.post_of_device(scan.reader_id)
    return (
        reader_post is not None and reader_post != post_id and not is_wand_log(scan.source_format)
    )


def short_read(
    session: Session, duties: DutyIndex, scan: CheckpointScan, reductions: Reductions
) -> ShortRead | None:
    """What ``scan``, read in a short form, may name: the checkpoints and cards of the
    reader's site, or else the checkpoints of other sites (module docstring). ``None`` for a
    read of the whole id, by a reader of no site, or of no id at all."""
    form = read_form(scan.source_format)
    site_id = duties.site_of_device(scan.reader_id) if form is not None else None
    if form is None or site_id is None:
        return None
    try:
        tag = normalise_tag_id(scan.tag_id)
    except ValueError:
        return None
    owners = owners_of_read(session, site_id, form, tag)
    if owners:
        return ShortRead(form, tag, frozenset(owners), {})
    places = reductions.get((form, tag), frozenset())
    named = frozenset(TagOwner("checkpoint", checkpoint) for checkpoint, _post in places)
    return ShortRead(form, tag, named, dict(places))


def checkpoint_of(
    session: Session,
    duties: DutyIndex,
    tags: Mapping[str, tuple[str, str]],
    scan: CheckpointScan,
    reductions: Reductions,
) -> tuple[str, str] | None:
    """``(checkpoint id, post id)`` of the tag ``scan`` read (``None``: no checkpoint's).

    ``tags`` maps every tag as written to its place (``prepo.checkpoint_index``). A reader
    that delivers a short form of an EM4100 id (``decimal``, ``wiegand26``, ``wiegand34``)
    names the checkpoint whose tag reduces to the read (``short_read``), unless the read names
    another checkpoint or a card too."""
    read = short_read(session, duties, scan, reductions)
    if read is None:
        try:
            return tags.get(normalise_tag_id(scan.tag_id))
        except ValueError:
            return None
    if len(read.owners) != 1:
        return None
    [owner] = read.owners
    if owner.kind != "checkpoint":
        return None
    post = read.posts.get(owner.id)
    if post is None:
        row = session.get(CheckpointRow, owner.id)
        post = None if row is None else row.post_id
    return None if post is None else (owner.id, post)


def card_holder(session: Session, duties: DutyIndex, scan: CheckpointScan) -> str | None:
    """The guard whose own card a reader read (``None``: the tag is no guard's card, or, read
    in a short form, names more than one card or checkpoint)."""
    site_id = duties.site_of_device(scan.reader_id)
    if site_id is None:
        return None
    form = read_form(scan.source_format)
    return prepo.guard_for_card(session, site_id, scan.tag_id, form=form)
