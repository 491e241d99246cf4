"""A patrol guard's and a gate guard's hand-computed morning, through the real pipeline.

The sample site reduced to g-004 patrolling jt-patrol-central and g-001 at jt-gate-north,
08:00-10:00 Asia/Shanghai on 2 March 2026, both on post all along (a fix a minute). The route
``garden-round`` runs a round 30 minutes after every hour of the shift (08:30, 09:30) over three
checkpoints read by EM4100 readers fixed at the post, windows 0-5, 5-10 and 10-15 minutes:

* round 08:30: east at 08:31, fountain at 08:36, west never scanned (missed at 08:45);
* round 09:30: east at 09:31, fountain at 09:36, west at 09:47: late, after its window closed
  at 09:45 (when it was reported missed) but within the 5-minute tolerance.

So g-004: 5 scans, 5 checkpoints scanned (1 late), 1 missed for good, two missed alerts
raised (08:45, 09:45), both rounds settled, patrol completion 5/6;
he has no PIN, so with a clock-in terminal at the site he is reported not clocked in
(``alert.late_clock_in``) once the 15-minute grace has passed, at 08:15. g-001 checks in on the
gate's clock-in terminal at 07:58 and out at 10:01: two punches.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.processor import Processor
from gateway.records import CheckpointScan, DecodeOutcome, Punch, PunchKind, TagTechnology
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, fix_at, post_points, roster_site
from tests.e2e.helpers import load_sample_site as load_site

__all__ = [
    "GATE",
    "PATROLLER",
    "drive",
    "drive_patrol_morning",
    "patrol_data",
    "patrol_site",
    "punch_at",
    "scan_at",
]

PATROLLER = ("g-004", "jt-patrol-central", "gps-d")
GATE = ("g-001", "jt-gate-north", "gps-a")
TAGS = {"cp-east": "0100A1B2C3", "cp-fountain": "0100A1B2C4", "cp-west": "0100A1B2C5"}
SCANS = {31: "cp-east", 36: "cp-fountain", 91: "cp-east", 96: "cp-fountain", 107: "cp-west"}


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def patrol_site(tmp_path: Path) -> Path:
    """The site of the module doc: a route, its readers and a clock-in terminal."""
    hours = {PATROLLER[0]: ("08:00", "10:00"), GATE[0]: ("08:00", "10:00")}
    path = roster_site(tmp_path, [PATROLLER, GATE], hours=hours)
    doc = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    for guard in site["guards"]:
        if guard["id"] == GATE[0]:
            guard["pin"] = "1001"
    site["devices"] += [
        # bound to the address its uploads come from here, so that no notice says it is forgeable
        {
            "id": "zk-gate",
            "kind": "clock_in",
            "post": GATE[1],
            "sn": "ZKLEDGER01",
            "address": "127.0.0.1",
        },
        *(
            {
                "id": f"em-{cp}",
                "kind": "em4100_reader",
                "post": PATROLLER[1],
                "url": f"/dev/null{n}",
            }
            for n, cp in enumerate(TAGS)
        ),
    ]
    site["checkpoints"] = [
        {"id": cp, "name": cp, "post": PATROLLER[1], "tags": [tag]} for cp, tag in TAGS.items()
    ]
    site["routes"] = [
        {
            "id": "garden-round",
            "name": "garden round",
            "post": PATROLLER[1],
            "schedule": {"every_min": 60, "offset_min": 30},
            "checkpoints": [
                {"checkpoint": cp, "window_min": [5 * n, 5 * n + 5]} for n, cp in enumerate(TAGS)
            ],
        }
    ]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def scan_at(checkpoint: str, minute: int) -> CheckpointScan:
    """``checkpoint``'s tag read by its EM4100 reader at ``minute``, received a second later."""
    return CheckpointScan(
        reader_id=f"em-{checkpoint}",
        tag_id=TAGS[checkpoint],
        scanned_at=at(minute),
        received_at=at(minute) + timedelta(seconds=1),
        technology=TagTechnology.EM4100,
        source_format="rdm6300",
    )


def punch_at(minutes: float, kind: PunchKind = PunchKind.CHECK_IN) -> Punch:
    """g-001's punch (PIN 1001) at the gate's clock-in terminal at ``minutes``, received a
    second later."""
    return Punch(
        terminal_id="zk-gate",
        person_id="1001",
        punched_at=at(minutes),
        received_at=at(minutes) + timedelta(seconds=1),
        kind=kind,
        source_format="zk-push",
    )


def drive_patrol_morning(engine: Engine, tmp_path: Path) -> None:
    """Load the site and run the morning through ``Processor`` (see the module doc)."""
    load_site(engine, DAY_START - timedelta(hours=1), patrol_site(tmp_path))
    points = {post: post_points(engine, post) for _, post, _ in (PATROLLER, GATE)}
    clock = ManualClock(at(-3))
    processor = Processor(engine, clock)
    clock.set(at(-2) + timedelta(seconds=1))
    processor.process_outcomes([DecodeOutcome(punches=(punch_at(-2, PunchKind.CHECK_IN),))])
    for minute in range(0, 125):
        clock.set(at(minute + 0.1))
        outcome = DecodeOutcome()
        if minute < 120:
            fixes = tuple(
                fix_at(device, at(minute), points[post].inside)
                for _, post, device in (PATROLLER, GATE)
            )
            scans = (scan_at(SCANS[minute], minute),) if minute in SCANS else ()
            outcome = DecodeOutcome(fixes=fixes, scans=scans)
        elif minute == 121:
            outcome = DecodeOutcome(punches=(punch_at(121, PunchKind.CHECK_OUT),))
        processor.process_outcomes([outcome])
        processor.tick()


def drive(
    engine: Engine,
    loads: dict[int, Path],
    scans: dict[int, str],
    punches: dict[int, Punch] | None = None,
) -> None:
    """The patrol site's morning through ``Processor``, both guards on post every minute up
    to 09:55, ``scans`` and ``punches`` at their minutes, each of ``loads`` loaded at its
    minute and the roster adopted as the runtime's quick check does."""
    where = {post: post_points(engine, post).inside for _, post, _ in (PATROLLER, GATE)}
    clock = ManualClock(at(-1))
    processor = Processor(engine, clock)
    for minute in range(0, 115):
        clock.set(at(minute + 0.1))
        if minute in loads:
            load_site_file(loads[minute], engine, clock.now())
            read = processor.read_roster(quick=True)
            assert read is not None and processor.adopt_roster(read)
        fixes = tuple(
            fix_at(device, at(minute), where[post]) for _, post, device in (PATROLLER, GATE)
        )
        found = (scan_at(scans[minute], minute),) if minute in scans else ()
        punched = (punches[minute],) if punches and minute in punches else ()
        processor.process_outcomes([DecodeOutcome(fixes=fixes, scans=found, punches=punched)])
        processor.tick()


def patrol_data(engine: Engine) -> list[tuple[str, datetime, dict[str, Any]]]:
    """``(type, time, data)`` of the patrol events for the core, in order."""
    with Session(engine) as session:
        rows = session.execute(
            select(OutboxRow.type, OutboxRow.event_time, OutboxRow.body)
            .where(OutboxRow.destination == "core", OutboxRow.type.like("patrol.%"))
            .order_by(OutboxRow.seq)
        ).all()
    return [(kind, when, json.loads(body)["data"]) for kind, when, body in rows]
