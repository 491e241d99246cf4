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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.db import patrol_repository as prepo
from gateway.pipeline.duty import DutyIndex
from gateway.records import CheckpointScan
from gateway.site.schema import normalise_tag_id
from gateway.site.tag_forms import read_form
from gateway.wand import is_wand_log

__all__ = ["ScanNaming", "card_holder", "checkpoint_of", "name_scan", "read_away"]


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


def checkpoint_of(
    session: Session,
    duties: DutyIndex,
    tags: Mapping[str, tuple[str, str]],
    scan: CheckpointScan,
) -> tuple[str, str] | None:
    """``(checkpoint id, post id)`` of the tag ``scan`` read (``None``: no checkpoint's).

    ``tags`` maps every tag as written to its place (``prepo.checkpoint_index``). A reader
    that delivers a short form of an EM4100 id (``decimal``, ``wiegand26``, ``wiegand34``)
    names the checkpoint of its site whose tag reduces to the read, unless the read names
    another checkpoint or a card too (``gateway.db.tag_aliases``)."""
    form = read_form(scan.source_format)
    site_id = duties.site_of_device(scan.reader_id) if form is not None else None
    if form is None or site_id is None:
        try:
            return tags.get(normalise_tag_id(scan.tag_id))
        except ValueError:
            return None
    row = prepo.checkpoint_for_tag(session, scan.tag_id, site_id=site_id, form=form)
    return None if row is None else (row.id, row.post_id)


def card_holder(session: Session, duties: DutyIndex, scan: CheckpointScan) -> str | None:
    """The guard whose own card a reader read (``None``: the tag is no guard's card, or, read
    in a short form, names more than one card or checkpoint)."""
    site_id = duties.site_of_device(scan.reader_id)
    if site_id is None:
        return None
    form = read_form(scan.source_format)
    return prepo.guard_for_card(session, site_id, scan.tag_id, form=form)
