"""The short forms of an EM4100 id that decimal and Wiegand readers deliver
(``gateway.site.tag_forms``), against the numbers printed and sent for real cards
(``tests/corpus/em4100/card_numbers.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.site.schema import SiteFile
from gateway.site.tag_forms import ReadForm, ambiguous_reads, read_form, reduced_ids, wand_read


def _cards(corpus: Path) -> list[dict[str, Any]]:
    cards = json.loads((corpus / "em4100" / "card_numbers.json").read_text("utf-8"))["cards"]
    return [c for c in cards if "em4100_hex" in c]


def test_the_short_forms_are_the_numbers_the_readers_send(corpus: Path) -> None:
    for card in _cards(corpus):
        forms = reduced_ids(card["em4100_hex"])
        assert forms[ReadForm.DECIMAL] == card["decimal_10"], card
        if "facility" in card:
            assert forms[ReadForm.WIEGAND26] == f"{card['facility']}:{card['card']}", card


@pytest.mark.parametrize("tag", ["04A2241A6B1C80", "04A2241A", "12:3456"])
def test_ids_that_are_no_em4100_id_have_no_short_form(tag: str) -> None:
    assert reduced_ids(tag) == {}


@pytest.mark.parametrize(
    ("variant", "form"),
    [
        ("decimal", ReadForm.DECIMAL),
        ("wiegand34", ReadForm.DECIMAL),
        ("wiegand26", ReadForm.WIEGAND26),
        ("rdm6300", None),
        ("nfcpy", None),
        ("wand_csv", None),
        (None, None),
    ],
)
def test_the_form_of_a_read_follows_its_readers_variant(
    variant: str | None, form: ReadForm | None
) -> None:
    assert read_form(variant) is form


def _site(variant: str, cards: dict[str, list[str]]) -> SiteFile:
    return SiteFile.model_validate(
        {
            "sites": [
                {
                    "id": "s-1",
                    "name": "site",
                    "guards": [
                        {"id": guard, "name": guard, "cards": ids} for guard, ids in cards.items()
                    ],
                    "devices": [{"id": "em-1", "kind": "em4100_reader", "variant": variant}],
                }
            ]
        }
    )


def test_two_guards_cards_sharing_their_low_32_bits_are_ambiguous_to_a_decimal_reader() -> None:
    site = _site("decimal", {"g-1": ["0102B0A5FD"], "g-2": ["0202B0A5FD"], "g-3": ["0100000001"]})
    found = ambiguous_reads(site.sites[0])
    assert list(found) == [(ReadForm.DECIMAL, "0045131261")]
    assert [str(owner) for _tag, owner in found[ReadForm.DECIMAL, "0045131261"]] == [
        "guard 'g-1'",
        "guard 'g-2'",
    ]


def test_one_guards_card_written_twice_is_not_ambiguous() -> None:
    # The EM4100 id and the 3+5 number printed on the same card, both in his file entry.
    site = _site("wiegand26", {"g-1": ["0102B0A5FD", "176:42493"]})
    assert ambiguous_reads(site.sites[0]) == {}


def test_a_site_with_readers_giving_the_whole_id_has_nothing_ambiguous() -> None:
    site = _site("rdm6300", {"g-1": ["0102B0A5FD"], "g-2": ["0202B0A5FD"]})
    assert ambiguous_reads(site.sites[0]) == {}


@pytest.mark.parametrize(
    ("variant", "downloaded", "read"),
    [
        # Without a variant the id's shape decides; 8 digits stay a 4-byte NFC UID.
        (None, "0045131261", (ReadForm.DECIMAL, "0045131261")),
        (None, "176:42493", (ReadForm.WIEGAND26, "176:42493")),
        (None, "17642493", (None, "17642493")),
        (None, "0102B0A5FD", (None, "0102B0A5FD")),
        ("decimal", "0045131261", (ReadForm.DECIMAL, "0045131261")),
        ("decimal", "176:42493", (None, "176:42493")),
        ("wiegand26", "17642493", (ReadForm.WIEGAND26, "176:42493")),
        ("wiegand26", "11127706", (ReadForm.WIEGAND26, "111:27706")),
        ("wiegand26", "25642493", (None, "25642493")),  # facility 256: no 3+5 pair
        ("wiegand26", "0045131261", (None, "0045131261")),
        ("hex", "0045131261", (None, "0045131261")),
        ("hex", "176:42493", (None, "176:42493")),
    ],
)
def test_a_wands_id_is_read_in_the_form_its_variant_or_its_shape_says(
    variant: str | None, downloaded: str, read: tuple[ReadForm | None, str]
) -> None:
    assert wand_read(downloaded, variant) == read
