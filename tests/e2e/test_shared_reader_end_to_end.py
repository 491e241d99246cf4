"""End to end, shared equipment at a post (docs/presence-rules.md, "Shared equipment at a
post"): a scan is evidence for the guard whose tag or card it read, never for every guard on
duty there. A checkpoint tag read by a reader fixed at a post where two guards are on duty names
nobody (no presence, no patrol credit; counted ``scans.unattributed``); a guard's own card
shown to that reader places only him (``scans.guard_card``).

The real path, as in ``tests/e2e/test_patrol_end_to_end.py``: an EM4100 reader simulated by
``fwsim`` on a pseudo-terminal, opened by the gateway's own driver from the URL in the site file
(written here), one ``ManualClock``, SQLite or PostgreSQL, the signing core stub.

The site: the garden patrol post ``pt-garden`` with the fixed reader ``em-garden`` and one
checkpoint, the fountain, on the route ``garden-round`` (a round 5 minutes after every hour of
the shift, the fountain's window 0-3 minutes into it); g-101 and g-102 both patrol it
08:00-20:00, each with his own card.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from fwsim.core_stub import CoreStub
from fwsim.scenario.field import FieldRunner, parse_field_scenario
from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.e2e.hard_cases import at
from tests.e2e.helpers import DAY_START
from tests.e2e.test_patrol_end_to_end import FieldRig

FOUNTAIN_TAG = "0100A1B2C4"
CARDS = {"g-101": "0200000101", "g-102": "0200000102"}
SECRET = "shared-reader-secret"


def shared_site(tmp_path: Path, reader_url: str) -> Path:
    site: dict[str, Any] = {
        "id": "e2e-shared",
        "name": "E2E shared reader",
        "timezone": "Asia/Shanghai",
        # Their GPS terminals send nothing here: the scans are the only evidence of where they
        # are, and the silence limit is raised so the events are those of the scans.
        "policy": {"device_silent_s": 7200},
        "posts": [
            {
                "id": "pt-garden",
                "name": "garden patrol",
                "kind": "patrol",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.3055, 30.5928], "radius_m": 80},
            }
        ],
        "leaders": [{"id": "ld-a", "name": "leader A", "team": "A"}],
        "guards": [{"id": g, "name": g, "team": "A", "cards": [c]} for g, c in CARDS.items()],
        "devices": [
            *({"id": f"gps-{g[2:]}", "kind": "gps", "guard": g} for g in CARDS),
            {
                "id": "em-garden",
                "kind": "em4100_reader",
                "post": "pt-garden",
                "url": reader_url,
                "variant": "rdm6300",
            },
        ],
        "shifts": [
            {"guard": g, "post": "pt-garden", "days": "daily", "start": "08:00", "end": "20:00"}
            for g in CARDS
        ],
        "checkpoints": [
            {"id": "cp-fountain", "name": "fountain", "post": "pt-garden", "tags": [FOUNTAIN_TAG]}
        ],
        "routes": [
            {
                "id": "garden-round",
                "post": "pt-garden",
                "ordered": True,
                "schedule": {"every_min": 60, "offset_min": 5},
                "checkpoints": [{"checkpoint": "cp-fountain", "window_min": [0, 3]}],
            }
        ],
    }
    path = tmp_path / "shared-site.yaml"
    path.write_text(yaml.safe_dump({"sites": [site]}, sort_keys=False), encoding="utf-8")
    return path


SCENARIO = {
    "name": "shared-reader",
    "field_devices": {
        "readers": [{"id": "em-garden", "kind": "em4100", "variant": "rdm6300"}],
        "timeline": [
            # 08:06, inside the fountain's window: someone holds the fountain's tag to the reader.
            {"at_min": 6, "scan": {"reader": "em-garden", "tag": FOUNTAIN_TAG, "repeats": 3}},
            # 08:09: g-101 shows his own card to it.
            {"at_min": 9, "scan": {"reader": "em-garden", "tag": CARDS["g-101"], "repeats": 2}},
        ],
    },
}


@pytest.fixture
def rig(db_url: str, tmp_path: Path) -> Iterator[FieldRig]:
    """The gateway at 08:00 with the reader opened by its driver on the simulator's pty."""
    clock = ManualClock(DAY_START)
    runner = FieldRunner(parse_field_scenario(SCENARIO), clock, start=DAY_START)
    runner.open()
    engine = make_engine(db_url)
    try:
        create_schema(engine)
        load_site_file(shared_site(tmp_path, runner.reader_url("em-garden")), engine, DAY_START)
    finally:
        engine.dispose()
    stub = CoreStub(SECRET)
    settings = Settings(
        database_url=db_url,
        core_url=stub.start(),
        core_secret=SecretStr(SECRET),
        event_source="urn:guard-gateway:e2e-shared",
        delivery_retry_initial_s=1.0,
        delivery_retry_max_s=20.0,
    )
    gateway = build_gateway(settings, clock, with_ingest=False)
    field_rig = FieldRig(clock, gateway, stub, runner)
    gateway.start()
    try:
        yield field_rig
    finally:
        gateway.stop()
        runner.stop()
        stub.stop()


def of_guard(events: list[dict[str, Any]], guard: str) -> list[tuple[str, datetime]]:
    return [
        (e["type"], datetime.fromisoformat(e["time"].replace("Z", "+00:00")))
        for e in events
        if e["subject"] == guard
    ]


def test_a_checkpoint_read_by_the_reader_two_guards_share_credits_neither_a_card_places_one(
    rig: FieldRig,
) -> None:
    rig.play(at(15))
    events = rig.events()

    # The fountain's tag at 08:06 names nobody: the checkpoint is missed for both at the end
    # of its window, and neither is placed at the post by it.
    assert of_guard(events, "g-101") == [
        ("alert.checkpoint_missed", at(8)),
        ("presence.arrived", at(9)),  # his card, and only his
        ("patrol.round_completed", at(13)),
    ]
    assert of_guard(events, "g-102") == [
        ("alert.checkpoint_missed", at(8)),
        ("alert.absent_at_shift_start", at(10)),
        ("patrol.round_completed", at(13)),
    ]
    assert {e["subject"] for e in events} == {"g-101", "g-102"}
    arrived = next(e for e in events if e["type"] == "presence.arrived")["data"]
    assert arrived["device_id"] == "em-garden"
    for completed in (e for e in events if e["type"] == "patrol.round_completed"):
        data = completed["data"]
        assert (data["scanned"], data["missed"], data["missed_checkpoints"]) == (
            0,
            1,
            ["cp-fountain"],
        )
    counters = rig.counters()
    assert counters["scans.stored"] == 2  # both kept as history
    assert counters["scans.unattributed"] == 1
    assert counters["scans.guard_card"] == 1
    assert counters.get("scans.duplicate", 0) == 0
    assert "scans.unknown_tag" not in counters
