"""Checkpoint tags and cards the site file names by their EM4100 id, read by readers that deliver
only part of it (``decimal``/``wiegand34``: the low 32 bits; ``wiegand26``: the low 24 as
``facility:card``), through the pipeline as ``guard-gateway run`` drives it (``Processor``, a
manual clock), on SQLite and PostgreSQL.

The patrol site of ``tests.ledger.patrol_scenario``: g-004 patrols the central garden from 08:00,
his round at 08:30 (east 08:30-08:35). The east checkpoint's tag is ``0100A1B2C3``: a decimal
reader sends ``0010597059``, a Wiegand 26 one ``161:45763``. Before, every such read was a
``patrol.unknown_tag`` and the checkpoint was missed.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import ScanRow
from gateway.pipeline.processor import Processor
from gateway.records import CheckpointScan, DecodeOutcome, TagTechnology
from gateway.site.loader import LoadSummary, load_site_file
from tests.e2e.helpers import fix_at, post_points
from tests.ledger.patrol_scenario import PATROLLER, TAGS, at, patrol_data, patrol_site

SHORT_FORMS = {"decimal": "0010597059", "wiegand34": "0010597059", "wiegand26": "161:45763"}
"""The east checkpoint's tag ``0100A1B2C3`` as each reader variant sends it."""
CARD = "0102B0A5FD"  # g-004's card (tests/corpus/em4100/card_numbers.json, i-keys)
CARD_DECIMAL = "0045131261"


def _load(engine: Engine, tmp_path: Path, variant: str, **extra: Any) -> LoadSummary:
    """The patrol site with its checkpoint readers set to ``variant``; ``extra``: a checkpoint
    ``decoy`` (its tag) at the same post, g-004's ``cards``."""
    path = patrol_site(tmp_path)
    doc = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    for device in site["devices"]:
        if device["kind"] == "em4100_reader":
            device["variant"] = variant
    if "decoy" in extra:
        decoy = {"id": "cp-decoy", "name": "decoy", "post": PATROLLER[1], "tags": [extra["decoy"]]}
        site["checkpoints"].append(decoy)
    for guard in site["guards"]:
        if guard["id"] == PATROLLER[0]:
            guard["cards"] = extra.get("cards", [])
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site_file(path, engine, at(-60))


def _read(variant: str, tag: str, minute: float) -> CheckpointScan:
    return CheckpointScan(
        reader_id="em-cp-east",
        tag_id=tag,
        scanned_at=at(minute),
        received_at=at(minute) + timedelta(seconds=1),
        technology=TagTechnology.WIEGAND if variant.startswith("wiegand") else TagTechnology.EM4100,
        source_format=variant,
    )


def _drive(
    engine: Engine, scans: dict[int, CheckpointScan | tuple[CheckpointScan, ...]]
) -> Processor:
    """g-004 on post 08:00-08:40, the reads in the minutes they are given at."""
    garden = post_points(engine, PATROLLER[1]).inside
    clock = ManualClock(at(-1))
    processor = Processor(engine, clock)
    for minute in range(0, 40):
        clock.set(at(minute + 0.1))
        fixes = (fix_at(PATROLLER[2], at(minute), garden),)
        given = scans.get(minute, ())
        read = given if isinstance(given, tuple) else (given,)
        processor.process_outcomes([DecodeOutcome(fixes=fixes, scans=read)])
        processor.tick()
    return processor


def _stored_checkpoints(engine: Engine) -> list[str | None]:
    with Session(engine) as session:
        return list(session.scalars(select(ScanRow.checkpoint_id).order_by(ScanRow.id)))


@pytest.mark.parametrize("variant", sorted(SHORT_FORMS))
def test_a_short_form_read_is_a_scan_of_the_checkpoint_whose_em4100_tag_it_is(
    engine: Engine, tmp_path: Path, variant: str
) -> None:
    assert _load(engine, tmp_path, variant).notices == ()
    processor = _drive(engine, {31: _read(variant, SHORT_FORMS[variant], 31)})
    scanned = [d for k, _, d in patrol_data(engine) if k == "patrol.checkpoint_scanned"]
    assert [(d["checkpoint_id"], d["tag_id"], d["late"]) for d in scanned] == [
        ("cp-east", SHORT_FORMS[variant], False)  # the read as the reader sent it, kept
    ]
    assert "patrol.unknown_tag" not in [k for k, _, _ in patrol_data(engine)]
    assert _stored_checkpoints(engine) == ["cp-east"]
    assert processor.counters.get("scans.unknown_tag") == 0


def test_a_full_id_from_an_rdm6300_reader_still_matches_only_as_written(
    engine: Engine, tmp_path: Path
) -> None:
    _load(engine, tmp_path, "rdm6300")
    # An RDM6300 gives the whole id: a decimal-looking id is no short form of the east tag.
    _drive(
        engine, {31: _read("rdm6300", "0010597059", 31), 32: _read("rdm6300", TAGS["cp-east"], 32)}
    )
    assert _stored_checkpoints(engine) == [None, "cp-east"]


def test_two_tags_sharing_a_short_form_are_named_in_a_notice_and_their_read_is_nobodys(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Another customer byte, the same low 32 bits: a decimal reader cannot tell them apart.
    summary = _load(engine, tmp_path, "decimal", decoy="0200A1B2C3")
    (notice,) = summary.notices
    assert "'0010597059'" in notice
    assert "checkpoint 'cp-east' (tag '0100A1B2C3')" in notice
    assert "checkpoint 'cp-decoy' (tag '0200A1B2C3')" in notice
    # Read at 08:31, 08:31:30 and 08:34: counted as ambiguous (before, as an unknown tag),
    # logged with both candidates at most once a minute.
    caplog.set_level(logging.WARNING, logger="gateway.pipeline.unnamed_reads")
    reads = [_read("decimal", "0010597059", m) for m in (31, 31.5, 34)]
    processor = _drive(engine, {31: (reads[0], reads[1]), 34: reads[2]})
    kinds = [k for k, _, _ in patrol_data(engine)]
    assert "patrol.checkpoint_scanned" not in kinds and "patrol.unknown_tag" in kinds
    assert _stored_checkpoints(engine) == [None, None, None]
    counters = processor.counters.snapshot()
    assert (counters.get("scans.ambiguous_read"), counters.get("scans.unknown_tag")) == (3, None)
    logged = [r.getMessage() for r in caplog.records if r.name.endswith("unnamed_reads")]
    assert logged == [
        "decimal read '0010597059' by em-cp-east names nobody: it may be checkpoint 'cp-decoy',"
        " checkpoint 'cp-east' (they share that decimal form; give one another tag or card)",
        "decimal read '0010597059' by em-cp-east names nobody: it may be checkpoint 'cp-decoy',"
        " checkpoint 'cp-east' (they share that decimal form; give one another tag or card)"
        " (1 more since)",
    ]


def test_a_guards_card_read_in_decimal_at_his_post_places_him_there(
    engine: Engine, tmp_path: Path
) -> None:
    _load(engine, tmp_path, "decimal", cards=[CARD])
    processor = _drive(engine, {20: _read("decimal", CARD_DECIMAL, 20)})
    assert processor.counters.get("scans.guard_card") == 1
    assert processor.counters.get("scans.unknown_tag") == 0


def test_a_card_and_a_checkpoint_tag_sharing_a_short_form_are_neither(
    engine: Engine, tmp_path: Path
) -> None:
    # g-004's card written by the number printed on it, the decoy tag by its EM4100 id.
    summary = _load(engine, tmp_path, "wiegand26", cards=["176:42493"], decoy="FFFFB0A5FD")
    (notice,) = summary.notices
    assert "guard 'g-004' (tag '176:42493')" in notice
    assert "checkpoint 'cp-decoy' (tag 'FFFFB0A5FD')" in notice
    processor = _drive(engine, {20: _read("wiegand26", "176:42493", 20)})
    assert processor.counters.get("scans.guard_card") == 0
    assert processor.counters.get("scans.unknown_tag") == 0
    assert processor.counters.get("scans.ambiguous_read") == 1


OTHER_TAG = "0300C4D5E6"
"""The tag of another site's checkpoint (``ov-cp``, at the optics valley site's gate)."""
OTHER_READS = {"decimal": "0012899814", "wiegand26": "196:54758"}
"""That tag as a reader of each short-form variant sends it."""


def _with_another_site(engine: Engine, tmp_path: Path, variant: str) -> None:
    """The patrol site with its east reader set to ``variant`` (the others give the whole id),
    and in the same file another site whose gate has a checkpoint (``OTHER_TAG``) and a guard
    on duty 08:00-10:00; no reader of that site delivers a short form."""
    path = patrol_site(tmp_path)
    doc = yaml.safe_load(path.read_text("utf-8"))
    for device in doc["sites"][0]["devices"]:
        if device["id"] == "em-cp-east":
            device["variant"] = variant
    fence = {"type": "Circle", "center": [114.41, 30.48], "radius_m": 40}
    doc["sites"].append(
        {
            "id": "wh-optics-valley",
            "name": "光谷软件园",
            "posts": [{"id": "ov-gate", "name": "gate", "datum": "wgs84", "fence": fence}],
            "guards": [{"id": "ov-g1", "name": "someone"}],
            "shifts": [
                {
                    "guard": "ov-g1",
                    "post": "ov-gate",
                    "days": "daily",
                    "start": "08:00",
                    "end": "10:00",
                }
            ],
            "checkpoints": [
                {"id": "ov-cp", "name": "gate", "post": "ov-gate", "tags": [OTHER_TAG]}
            ],
        }
    )
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    load_site_file(path, engine, at(-60))


@pytest.mark.parametrize("variant", sorted(OTHER_READS))
def test_another_sites_checkpoint_tag_is_read_away_in_a_short_form_as_in_full(
    engine: Engine, tmp_path: Path, variant: str
) -> None:
    # Shown to the east reader (short form) at 08:31, to the fountain's (whole id) at 08:32.
    # Before, read whole it was a checkpoint tag read away from its checkpoint, read in a short
    # form an unknown tag (``patrol.unknown_tag``): the same card, two stories.
    _with_another_site(engine, tmp_path, variant)
    full = replace(_read("rdm6300", OTHER_TAG, 32), reader_id="em-cp-fountain")
    processor = _drive(engine, {31: _read(variant, OTHER_READS[variant], 31), 32: full})
    counters = processor.counters.snapshot()
    assert (counters.get("scans.tag_elsewhere"), counters.get("scans.unknown_tag")) == (2, None)
    assert [k for k, _, _ in patrol_data(engine) if k == "patrol.unknown_tag"] == []
    assert _stored_checkpoints(engine) == ["ov-cp", "ov-cp"]
