"""The shorter forms in which readers deliver an EM4100 card or tag named by its full id.

A site file names a 125 kHz card or tag by its EM4100 id, 10 hex digits (the version/customer
byte and the 32-bit number). Many readers deliver less of it (``drivers.em4100.frames``):

``decimal``
    the low 32 bits as 10 decimal digits: an ``em4100_reader`` with variant ``decimal`` or
    ``wiegand34`` (the number printed on most cards);
``wiegand26``
    the low 24 bits as Wiegand ``facility:card`` (8 + 16 bits): variant ``wiegand26``.

An offline patrol wand downloads its log in one of those forms too (``wand_read``): its
``variant`` in the site file says which (``decimal``, ``wiegand26``, or ``hex`` for whole ids);
a wand without one has each id read in the form its shape allows: a ``facility:card`` pair in
``wiegand26``, 10 decimal digits in ``decimal`` (which, as written, may also be an EM4100 id in
hex: the read names the tag written so and every tag whose low 32 bits it gives, so it is
ambiguous, names nobody, when they are two), anything else as written. 8 digits are a ``3+5``
Wiegand pair only for a wand set to ``wiegand26`` (as written they are a 4-byte NFC UID).

The site loader stores, for each site with such a reader or wand, every EM4100 id of its
checkpoint tags and guards' cards in the forms they deliver (``tag_aliases``); a read in a short
form is matched there (``gateway.db.tag_aliases``). The short forms lose bits, so two cards may
share one: ``ambiguous_reads`` finds them for the site's notices, and such a read names nobody
(it is reported as an unknown tag or person, never given to one of the two at random).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from drivers.em4100.frames import em4100_decimal_id, em4100_wiegand26_id
from gateway.site.schema import SiteEntry, normalise_tag_id

__all__ = [
    "WAND_VARIANTS",
    "ReadForm",
    "TagOwner",
    "ambiguous_reads",
    "read_form",
    "reduced_ids",
    "site_read_forms",
    "wand_forms",
    "wand_read",
    "written_in",
]

WAND_VARIANTS = ("decimal", "wiegand26", "hex")
"""What a ``patrol_wand``'s ``variant`` may say: the form of the ids it downloads."""


class ReadForm(StrEnum):
    """A form that keeps only part of an EM4100 id (module docstring)."""

    DECIMAL = "decimal"
    WIEGAND26 = "wiegand26"


_FORM_OF_OUTPUT = {
    "decimal": ReadForm.DECIMAL,
    "wiegand34": ReadForm.DECIMAL,
    "wiegand26": ReadForm.WIEGAND26,
    # A wand's scan read in a short form (``gateway.wand``: ``wand`` + ``:`` + the form).
    "wand:decimal": ReadForm.DECIMAL,
    "wand:wiegand26": ReadForm.WIEGAND26,
}
"""An ``em4100_reader``'s variant, or a wand scan's format (a scan's ``source_format``) → the
form of its ids."""


def read_form(source_format: str | None) -> ReadForm | None:
    """The short form of the ids a reader with this output variant (a scan's or punch's
    ``source_format``) delivers; ``None`` for a reader that gives the whole id (``rdm6300``,
    NFC, a wand's id read as written, clock-in terminals): its reads are matched as written
    only."""
    return None if source_format is None else _FORM_OF_OUTPUT.get(source_format)


def wand_forms(variant: str | None) -> frozenset[ReadForm]:
    """The short forms a wand with this ``variant`` may download (module docstring): its own,
    none for ``hex``, both for a wand without one."""
    if variant is None:
        return frozenset(ReadForm)
    return frozenset(form for form in ReadForm if form.value == variant)


def site_read_forms(site: SiteEntry) -> frozenset[ReadForm]:
    """The short forms the site's readers deliver (from their variants), and its wands."""
    forms: set[ReadForm] = set()
    for device in site.devices:
        if device.kind == "em4100_reader" and (form := read_form(device.variant)) is not None:
            forms.add(form)
        elif device.kind == "patrol_wand":
            forms |= wand_forms(device.variant)
    return frozenset(forms)


def wand_read(tag_id: str, variant: str | None) -> tuple[ReadForm | None, str]:
    """The form a wand with this ``variant`` downloaded ``tag_id`` (normalised) in, and the id
    as a reader of that form sends it (an 8-digit ``3+5`` pair as ``facility:card``); ``None``
    and ``tag_id`` for an id read as written (module docstring)."""
    forms = wand_forms(variant)
    if ReadForm.WIEGAND26 in forms:
        if ":" in tag_id:
            return ReadForm.WIEGAND26, tag_id
        # Only a wand said to send them: as written, 8 digits are a 4-byte NFC UID.
        pair = variant is not None and len(tag_id) == 8 and tag_id.isdigit()
        if pair and int(tag_id[:3]) <= 0xFF and int(tag_id[3:]) <= 0xFFFF:
            return ReadForm.WIEGAND26, f"{int(tag_id[:3])}:{int(tag_id[3:])}"
    if ReadForm.DECIMAL in forms and len(tag_id) == 10 and tag_id.isdigit():
        return ReadForm.DECIMAL, tag_id
    return None, tag_id


def reduced_ids(tag_id: str) -> dict[ReadForm, str]:
    """Each short form of ``tag_id`` (a normalised id), normalised as a read of it is: an
    EM4100 id (10 hex digits) has both, any other id (an NFC UID, a Wiegand pair) none."""
    if len(tag_id) != 10 or ":" in tag_id:
        return {}
    return {
        ReadForm.DECIMAL: normalise_tag_id(em4100_decimal_id(tag_id)),
        ReadForm.WIEGAND26: normalise_tag_id(em4100_wiegand26_id(tag_id)),
    }


def written_in(form: ReadForm, tag_id: str) -> bool:
    """Whether ``tag_id`` as written in the site file is itself shaped as a read in ``form``
    (10 decimal digits; a ``facility:card`` pair), so such a read matches it as written too."""
    if form is ReadForm.WIEGAND26:
        return ":" in tag_id
    return len(tag_id) == 10 and tag_id.isdigit()


@dataclass(frozen=True, slots=True, order=True)
class TagOwner:
    """What a tag id names: a checkpoint, or a guard (his card)."""

    kind: str
    """``checkpoint`` or ``guard``."""
    id: str

    def __str__(self) -> str:
        return f"{self.kind} {self.id!r}"


def _owned_ids(site: SiteEntry) -> Iterable[tuple[str, TagOwner]]:
    for checkpoint in site.checkpoints:
        for tag in checkpoint.tags:
            yield tag, TagOwner("checkpoint", checkpoint.id)
    for guard in site.guards:
        for card in guard.cards:
            yield card, TagOwner("guard", guard.id)


def ambiguous_reads(site: SiteEntry) -> dict[tuple[ReadForm, str], list[tuple[str, TagOwner]]]:
    """``(form, read) → [(id as written, owner), ...]`` for each read one of the site's
    readers may deliver that names more than one checkpoint or guard: two EM4100 ids of
    different owners sharing their low 32 (``decimal``) or 24 (``wiegand26``) bits, or an id
    written in the short form that another owner's full id reduces to."""
    forms = site_read_forms(site)
    if not forms:
        return {}
    names: dict[tuple[ReadForm, str], set[tuple[str, TagOwner]]] = defaultdict(set)
    for tag, owner in _owned_ids(site):
        for form, alias in reduced_ids(tag).items():
            if form in forms:
                names[form, alias].add((tag, owner))
        for form in forms:
            if written_in(form, tag):
                names[form, tag].add((tag, owner))
    return {
        key: sorted(named)
        for key, named in sorted(names.items())
        if len({owner for _tag, owner in named}) > 1
    }
