"""A checkpoint's tag read by a reader fixed at another post is no visit to the checkpoint
(``gateway.pipeline.scan_attribution.read_away``), through the pipeline as ``guard-gateway
run`` drives it (``Processor``, a manual clock), on SQLite and PostgreSQL.

The patrol site of ``tests.ledger.patrol_scenario``: g-004 patrols the central garden 08:00-10:00,
its round at 08:30 (east 08:30-08:35, fountain, west); g-001 keeps the north gate, where an
EM4100 reader stands too. At 08:31 the garden's east checkpoint card is shown to the gate's
reader: carried, or copied, to a booth, the classic way to walk a round without walking it.
Before, it counted as g-004's scan of the east checkpoint, on time, and placed him at the
garden.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import yaml
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from gateway.records import CheckpointScan, DecodeOutcome, TagTechnology
from gateway.site.loader import load_site_file
from tests.e2e.helpers import fix_at, outbox_rows, post_points
from tests.ledger.patrol_scenario import GATE, PATROLLER, TAGS, at, patrol_data, patrol_site


def _gate_reader_reads(tag: str, minute: int) -> CheckpointScan:
    return CheckpointScan(
        reader_id="em-gate",
        tag_id=tag,
        scanned_at=at(minute),
        received_at=at(minute) + timedelta(seconds=1),
        technology=TagTechnology.EM4100,
        source_format="rdm6300",
    )


def test_a_checkpoint_card_shown_to_a_reader_at_another_post_is_not_a_scan_of_it(
    engine: Engine, tmp_path: Path
) -> None:
    path = patrol_site(tmp_path)
    doc = yaml.safe_load(path.read_text("utf-8"))
    reader = {"id": "em-gate", "kind": "em4100_reader", "post": GATE[1], "url": "/dev/nullg"}
    doc["sites"][0]["devices"].append(reader)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    load_site_file(path, engine, at(-60))
    garden = post_points(engine, PATROLLER[1]).inside
    gate = post_points(engine, GATE[1]).inside
    clock = ManualClock(at(-1))
    processor = Processor(engine, clock)
    for minute in range(0, 50):
        clock.set(at(minute + 0.1))
        fixes = (fix_at(PATROLLER[2], at(minute), garden), fix_at(GATE[2], at(minute), gate))
        scans = (_gate_reader_reads(TAGS["cp-east"], 31),) if minute == 31 else ()
        processor.process_outcomes([DecodeOutcome(fixes=fixes, scans=scans)])
        processor.tick()

    assert [d for k, _, d in patrol_data(engine) if k == "patrol.checkpoint_scanned"] == []
    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    missed = [b["data"]["checkpoint_id"] for b in bodies if b["type"] == "alert.checkpoint_missed"]
    assert missed == ["cp-east", "cp-fountain", "cp-west"]
    counters = processor.counters.snapshot()
    assert counters["scans.stored"] == 1  # kept as history, with its reader
    assert counters["scans.tag_elsewhere"] == 1
