"""Checkpoint scans relayed to the process holding their guard (``gateway.pipeline.relay``),
with two processors on one real database, each holding part of the guards (``set_scope``, as a
partitioned run sets it): a scan is attributed among every guard on duty at the reader's post,
wherever his rules run, and applied once, by the process holding the guard it names.

The site: the garden patrol post with a reader fixed there (``em-garden``), a wand carried by
g-103, the fountain checkpoint on an hourly round, and three guards, each with his own card.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_mock import MockerFixture
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.cluster.tables import RelayedScanRow
from gateway.db.models import PatrolStateRow
from gateway.pipeline.processor import Processor
from gateway.records import CheckpointScan, TagTechnology
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, outbox_rows
from tests.fixtures.databases import CommitFault

START = DAY_START  # 08:00 in Shanghai: the day shifts start
FOUNTAIN = "0100A1B2C4"
CARDS = {"g-101": "0200000101", "g-102": "0200000102", "g-103": "0200000103"}


def garden_site(tmp_path: Path, on_duty: list[str]) -> Path:
    """``on_duty`` patrol the garden 08:00-20:00; the others are off duty."""
    site: dict[str, Any] = {
        "id": "relay-scans",
        "name": "relayed scans",
        "timezone": "Asia/Shanghai",
        "policy": {"device_silent_s": 7200},  # their GPS terminals send nothing here
        "posts": [
            {
                "id": "pt-garden",
                "name": "garden",
                "kind": "patrol",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.3055, 30.5928], "radius_m": 80},
            }
        ],
        "leaders": [{"id": "ld-a", "name": "leader A", "team": "A"}],
        "guards": [{"id": g, "name": g, "team": "A", "cards": [c]} for g, c in CARDS.items()],
        "devices": [
            *({"id": f"gps-{g[2:]}", "kind": "gps", "guard": g} for g in CARDS),
            {"id": "em-garden", "kind": "em4100_reader", "post": "pt-garden"},
            {"id": "wand-103", "kind": "patrol_wand", "guard": "g-103"},
        ],
        "shifts": [
            {"guard": g, "post": "pt-garden", "days": "daily", "start": "08:00", "end": "20:00"}
            for g in on_duty
        ],
        "checkpoints": [
            {"id": "cp-fountain", "name": "fountain", "post": "pt-garden", "tags": [FOUNTAIN]}
        ],
        "routes": [
            {
                "id": "garden-round",
                "post": "pt-garden",
                "schedule": {"every_min": 60, "offset_min": 5},
                "checkpoints": [{"checkpoint": "cp-fountain", "window_min": [0, 10]}],
            }
        ],
    }
    path = tmp_path / "garden.yaml"
    path.write_text(yaml.safe_dump({"sites": [site]}, sort_keys=False), encoding="utf-8")
    return path


def scan(reader: str, tag: str, minutes: float) -> CheckpointScan:
    at = START + timedelta(minutes=minutes)
    return CheckpointScan(reader, tag, at, at, TagTechnology.EM4100, source_format="rdm6300")


def two_processes(
    engine: Engine, tmp_path: Path, on_duty: list[str], elsewhere: set[str]
) -> tuple[Processor, Processor, ManualClock]:
    """The site stored; a receiver holding every guard but ``elsewhere``, and their owner."""
    clock = ManualClock(START + timedelta(minutes=6))
    load_site_file(garden_site(tmp_path, on_duty), engine, START)
    receiver = Processor(engine, clock)
    receiver.set_scope(lambda guard: guard not in elsewhere)
    owner = Processor(engine, clock)
    owner.set_scope(lambda guard: guard in elsewhere)
    for processor in (receiver, owner):
        processor.tick()  # scopes applied, shifts started
    return receiver, owner, clock


def store(processor: Processor, clock: ManualClock, scans: list[CheckpointScan]) -> None:
    processor.run_command(lambda session, p: p.store_scans(session, scans, clock.now()))


def waiting(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(RelayedScanRow)) or 0)


def events_of(engine: Engine, guard: str) -> list[str]:
    return [r.type for r in outbox_rows(engine) if r.subject == guard]


@pytest.mark.parametrize(
    ("reader", "tag", "guard"),
    [
        ("em-garden", FOUNTAIN, "g-101"),  # the one guard on duty at the reader's post
        ("em-garden", CARDS["g-101"], "g-101"),  # his own card shown to the fixed reader
        ("wand-103", FOUNTAIN, "g-103"),  # the wand he carries
    ],
    ids=["fixed-reader", "guard-card", "wand"],
)
def test_a_scan_of_a_guard_held_elsewhere_is_applied_once_by_his_process(
    engine: Engine, tmp_path: Path, reader: str, tag: str, guard: str
) -> None:
    receiver, owner, clock = two_processes(engine, tmp_path, [guard], {guard})
    store(receiver, clock, [scan(reader, tag, 6)])

    assert receiver.counters.snapshot()["scans.relayed"] == 1 and waiting(engine) == 1
    assert events_of(engine, guard) == []  # the receiver runs none of his rules
    clock.advance(1.0)
    owner.tick()
    receiver.tick()
    assert waiting(engine) == 0
    assert owner.counters.snapshot()["scans.relayed_in"] == 1
    assert "scans.relayed_in" not in receiver.counters.snapshot()
    assert "presence.arrived" in events_of(engine, guard)
    if tag == FOUNTAIN:  # a checkpoint scan also counts for his round
        assert owner.counters.snapshot().get("scans.nobody_on_duty", 0) == 0
        with Session(engine) as session:
            state = session.scalars(select(PatrolStateRow.state)).one()
        assert state["last_scans"] == [["cp-fountain", (START + timedelta(minutes=6)).isoformat()]]
        assert {"patrol.checkpoint_scanned", "patrol.round_completed"} <= set(
            events_of(engine, guard)
        )
    else:
        assert owner.counters.snapshot()["scans.guard_card"] == 1


def test_a_fixed_readers_scan_is_nobodys_when_a_guard_held_elsewhere_is_also_on_duty(
    engine: Engine, tmp_path: Path
) -> None:
    """Two guards on duty at the post, one held by each process: the reader's checkpoint scan
    names neither, as it would in one process (not the one guard the receiver happens to hold);
    each guard's own card still names him."""
    receiver, owner, clock = two_processes(engine, tmp_path, ["g-101", "g-102"], {"g-102"})
    store(receiver, clock, [scan("em-garden", FOUNTAIN, 6)])
    assert receiver.counters.snapshot()["scans.unattributed"] == 1
    assert "scans.relayed" not in receiver.counters.snapshot() and waiting(engine) == 0

    store(
        receiver,
        clock,
        [scan("em-garden", CARDS["g-101"], 7), scan("em-garden", CARDS["g-102"], 7)],
    )
    clock.advance(1.0)
    owner.tick()
    assert receiver.counters.snapshot()["scans.relayed"] == 1
    assert owner.counters.snapshot()["scans.relayed_in"] == 1
    assert events_of(engine, "g-101") == ["presence.arrived"]  # from the receiver, his owner
    assert events_of(engine, "g-102") == ["presence.arrived"]  # from the owner, once


def test_a_relayed_scan_survives_a_failed_pass_and_is_applied_once(
    engine: Engine, tmp_path: Path, mocker: MockerFixture
) -> None:
    receiver, owner, clock = two_processes(engine, tmp_path, ["g-101"], {"g-101"})
    store(receiver, clock, [scan("em-garden", CARDS["g-101"], 6)])
    fault = CommitFault(engine)
    mocker.patch.object(engine.dialect, "do_commit", fault)
    fault.fail(1)
    clock.advance(1.0)
    with pytest.raises(OperationalError, match="injected"):
        owner.tick()
    assert waiting(engine) == 1 and events_of(engine, "g-101") == []

    for _ in range(2):  # the failed transaction reloads; the next pass applies it
        clock.advance(1.0)
        owner.tick()
    assert waiting(engine) == 0 and fault.fired == 1
    assert events_of(engine, "g-101") == ["presence.arrived"]
