"""A patrol wand that downloads 125 kHz tags as the numbers printed on them (the low 32 bits of the
EM4100 id as 10 decimal digits, or the low 24 as Wiegand ``3+5``), imported over HTTP
(``POST /wands/{id}/downloads``, the route ``guard-gateway run`` serves): each scan names the
checkpoint the site file names by the tag's 10-hex-digit EM4100 id. Before, every one of them was
a ``patrol.unknown_tag`` and its checkpoint was missed.

The tags are real cards' (``tests/corpus/em4100/card_numbers.json``: i-keys' ``0102B0A5FD``,
printed ``0045131261`` and ``176,42493``; zgznk's ``01026F6C3A``, ``0040856634`` and
``111,27706``). A read that may name two tags (an id of 10 decimal digits is also a hex EM4100
id as written) names neither, and the download counts it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import ScanRow
from gateway.outbox.tables import OutboxRow
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, SAMPLE_SITE
from tests.fixtures.api_server import api_over_http

WAND = "wand-07"


def _cards(corpus: Path) -> dict[str, dict[str, Any]]:
    cards = json.loads((corpus / "em4100" / "card_numbers.json").read_text("utf-8"))["cards"]
    return {c["em4100_hex"]: c for c in cards if c.get("source") in ("i-keys", "zgznk")}


def _load(engine: Engine, tmp_path: Path, variant: str | None, tags: dict[str, str]) -> None:
    """The sample site with g-004's wand (``variant``) and checkpoints ``tags`` (id -> tag), a
    round of them every hour from 08:00, ten minutes each."""
    doc = yaml.safe_load(SAMPLE_SITE.read_text(encoding="utf-8"))
    site = doc["sites"][0]
    wand: dict[str, Any] = {"id": WAND, "kind": "patrol_wand", "guard": "g-004"}
    if variant is not None:
        wand["variant"] = variant
    site["devices"].append(wand)
    site["checkpoints"] = [
        {"id": cp, "name": cp, "post": "jt-patrol-central", "tags": [tag]}
        for cp, tag in tags.items()
    ]
    site["routes"] = [
        {
            "id": "garden",
            "post": "jt-patrol-central",
            "schedule": {"every_min": 60, "offset_min": 0},
            "checkpoints": [
                {"checkpoint": cp, "window_min": [10 * i, 10 * i + 10]} for i, cp in enumerate(tags)
            ],
        }
    ]
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    load_site_file(path, engine, DAY_START)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DAY_START + timedelta(minutes=40))


@pytest.fixture
def wand_site(engine: Engine, tmp_path: Path, clock: ManualClock) -> Iterator[Any]:
    """Load the site (``_load``'s arguments), then serve the API as ``guard-gateway run``
    does; returns how to POST a wand log (its lines ``tag_id,time``) as the wand's download,
    which answers the import's JSON."""
    with contextlib.ExitStack() as stack:

        def start(variant: str | None, tags: dict[str, str]) -> Any:
            _load(engine, tmp_path, variant, tags)
            http = stack.enter_context(api_over_http(engine, clock))

            def send(*lines: str) -> dict[str, Any]:
                log = "wand_id,tag_id,time\n" + "".join(f"{WAND},{line}\n" for line in lines)
                params = {"wand_clock": clock.now().isoformat()}
                answer: httpx.Response = http.post(
                    f"/wands/{WAND}/downloads", content=log, params=params
                )
                assert answer.status_code == 201, answer.text
                return dict(answer.json())

            return send

        yield start


def _scans(engine: Engine) -> list[tuple[str, str | None, str]]:
    """Every stored scan as (tag id, checkpoint, source format), in scan time order."""
    with Session(engine) as s:
        rows = s.execute(
            select(ScanRow.tag_id, ScanRow.checkpoint_id, ScanRow.source_format).order_by(
                ScanRow.scanned_at
            )
        )
        return [(tag, checkpoint, source) for tag, checkpoint, source in rows]


def _events(engine: Engine, kind: str) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).where(OutboxRow.type == kind)) or 0)


def test_a_wand_without_a_variant_downloading_decimal_ids_names_the_checkpoints(
    engine: Engine, corpus: Path, wand_site: Any
) -> None:
    cards = _cards(corpus)
    download = wand_site(None, {"cp-a": "0102B0A5FD", "cp-b": "01026F6C3A"})
    answer = download(
        f"{cards['0102B0A5FD']['decimal_10']},2026-03-02 08:02:00",
        f"{cards['01026F6C3A']['decimal_10']},2026-03-02 08:12:00",
        "0102B0A5FD,2026-03-02 08:22:00",  # the same wand may give the whole id too
    )
    assert _scans(engine) == [
        ("0045131261", "cp-a", "wand:decimal"),
        ("0040856634", "cp-b", "wand:decimal"),
        ("0102B0A5FD", "cp-a", "wand"),
    ]
    assert (answer["stored"], answer["ambiguous"]) == (3, 0)
    assert _events(engine, "patrol.checkpoint_scanned") == 3
    assert _events(engine, "patrol.unknown_tag") == 0


def test_a_wand_set_to_wiegand26_downloading_3_plus_5_numbers_names_the_checkpoints(
    engine: Engine, corpus: Path, wand_site: Any
) -> None:
    cards = _cards(corpus)
    download = wand_site("wiegand26", {"cp-a": "0102B0A5FD", "cp-b": "01026F6C3A"})
    first, second = cards["0102B0A5FD"], cards["01026F6C3A"]
    answer = download(
        f"{first['facility']:03d}{first['card']:05d},2026-03-02 08:02:00",  # 17642493
        f"{second['facility']}:{second['card']},2026-03-02 08:12:00",  # 111:27706
    )
    assert _scans(engine) == [
        ("176:42493", "cp-a", "wand:wiegand26"),
        ("111:27706", "cp-b", "wand:wiegand26"),
    ]
    assert (answer["stored"], answer["ambiguous"]) == (2, 0)
    assert _events(engine, "patrol.unknown_tag") == 0


def test_a_decimal_id_that_is_also_a_tag_written_in_hex_names_neither_and_is_counted(
    engine: Engine, wand_site: Any
) -> None:
    # cp-c's tag is written as the EM4100 id 0045131261 (hex); cp-a's 0102B0A5FD gives the
    # decimal read 0045131261. A wand without a variant may send either: the read names neither.
    download = wand_site(None, {"cp-a": "0102B0A5FD", "cp-c": "0045131261"})
    answer = download("0045131261,2026-03-02 08:02:00")
    assert _scans(engine) == [("0045131261", None, "wand:decimal")]
    assert (answer["stored"], answer["ambiguous"]) == (1, 1)
    assert _events(engine, "patrol.checkpoint_scanned") == 0
    assert _events(engine, "patrol.unknown_tag") == 1


def test_a_wand_set_to_hex_matches_its_ids_as_written_only(engine: Engine, wand_site: Any) -> None:
    download = wand_site("hex", {"cp-a": "0102B0A5FD", "cp-c": "0045131261"})
    answer = download("0045131261,2026-03-02 08:02:00")
    assert _scans(engine) == [("0045131261", "cp-c", "wand")]
    assert (answer["stored"], answer["ambiguous"]) == (1, 0)
