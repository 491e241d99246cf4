"""A guard rotating between posts (轮岗) who leaves the first a couple of minutes before its
shift ends to walk to the next is not raised an unreported departure nor leaving early,
through the pipeline as ``guard-gateway run`` drives it (the roster tells each presence
machine of the guard's next shift). Before, every such rotation raised both. SQLite and
PostgreSQL.

The sample site reduced to g-001: the north gate 08:00-12:00, the east gate 12:00-16:00."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.pipeline.duty_load import load_duties
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, SAMPLE_SITE, fix_at, outbox_rows

NORTH, EAST = "jt-gate-north", "jt-gate-east"


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def _rotation_site(tmp_path: Path) -> Path:
    doc: dict[str, Any] = yaml.safe_load(SAMPLE_SITE.read_text("utf-8"))
    site = doc["sites"][0]
    site["guards"] = [g for g in site["guards"] if g["id"] == "g-001"]
    site["devices"] = [{"id": "gps-001", "kind": "gps", "guard": "g-001"}]
    site["shifts"] = [
        {"guard": "g-001", "post": NORTH, "days": "daily", "start": "08:00", "end": "12:00"},
        {"guard": "g-001", "post": EAST, "days": "daily", "start": "12:00", "end": "16:00"},
    ]
    path = tmp_path / "rotation.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _centres(engine: Engine) -> dict[str, tuple[float, float]]:
    """WGS-84 ``(lon, lat)`` of each post's centre, as the gateway loaded its fence."""
    with Session(engine) as session:
        duties = load_duties(session, DAY_START)
    out = {}
    for duty in duties.duties_of_guard("g-001"):
        centre = duty.fence.wgs84.centroid
        out[duty.post_id] = (centre.x, centre.y)
    return out


def _day(engine: Engine, tmp_path: Path, *, leaves: float, arrives: float | None) -> None:
    """On post at the north gate until minute ``leaves``; on the way (between the posts,
    outside both) until ``arrives``, then at the east gate (``None``: never); to 16:00."""
    load_site_file(_rotation_site(tmp_path), engine, at(-60))
    centres = _centres(engine)
    lon, lat = centres[NORTH]
    between = (lon, lat + 0.004)  # 440 m north of the north gate: outside both
    clock = ManualClock(at(-50))
    processor = Processor(engine, clock)
    for minute in range(-10, 8 * 60):
        clock.set(at(minute + 0.1))
        if minute < leaves:
            where = centres[NORTH]
        elif arrives is None or minute < arrives:
            where = between
        else:
            where = centres[EAST]
        outcome = DecodeOutcome(fixes=(fix_at("gps-001", at(minute), where),))
        processor.process_outcomes([outcome])
        processor.tick()


def _events(engine: Engine) -> list[tuple[str, str, str]]:
    """``(time, type, post)`` of g-001's events for the core."""
    out = []
    for row in outbox_rows(engine):
        if row.destination == "core" and row.subject == "g-001":
            body = json.loads(row.body)
            out.append((body["time"], row.type, str(body["data"].get("post_id"))))
    return out


def test_leaving_two_minutes_early_for_the_next_post_raises_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    _day(engine, tmp_path, leaves=238, arrives=244)
    assert _events(engine) == [
        ("2026-03-02T00:00:00Z", "presence.arrived", NORTH),
        ("2026-03-02T04:04:00Z", "presence.arrived", EAST),
    ]


def test_never_reaching_the_next_post_is_its_absence(engine: Engine, tmp_path: Path) -> None:
    _day(engine, tmp_path, leaves=238, arrives=None)
    assert _events(engine) == [
        ("2026-03-02T00:00:00Z", "presence.arrived", NORTH),
        ("2026-03-02T04:10:00Z", "alert.absent_at_shift_start", EAST),
    ]


def test_leaving_ten_minutes_early_is_an_unreported_departure_and_leaving_early(
    engine: Engine, tmp_path: Path
) -> None:
    _day(engine, tmp_path, leaves=230, arrives=244)
    assert [(kind, post) for _, kind, post in _events(engine)] == [
        ("presence.arrived", NORTH),
        ("presence.departed", NORTH),
        ("alert.unreported_departure", NORTH),
        ("alert.left_early", NORTH),
        ("presence.arrived", EAST),
    ]
