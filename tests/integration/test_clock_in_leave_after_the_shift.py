"""A leave typed in the next morning reaches the clock-in machine of a shift a site load cut
short meanwhile, as it reaches the shift's presence rules and patrol: through the gateway as
``guard-gateway run`` builds it (``build_gateway``), over its HTTP API (``POST /leaves``),
restarted at the site load that ends the shift. SQLite and PostgreSQL.

The patrol site (``tests.ledger.patrol_scenario``): g-001 keeps the north gate 08:00-10:00, the
gate's clock-in terminal ``zk-gate`` reads his PIN. No leave on record that morning: he is not
clocked in by 08:15 (``alert.late_clock_in``) and checks in at 09:05. At 09:20 the leader takes
him off the roster (sent home): the site load cuts the shift short, its clock-in machine closes
and leaves memory. The next morning the leader types in the leave he approved by phone at 07:10,
07:30-09:00: the grace ran to 09:15, the check-in at 09:05 was in time, the alert was wrong.
Before, the closed machine was let be and the alert stood, counted late in the ledger.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.models import AlertRow, ShiftRow
from gateway.db.schema import create_schema
from gateway.outbox.tables import EVENT_DESTINATIONS
from gateway.records import DecodeOutcome
from gateway.site.loader import load_site_file
from tests.e2e.helpers import fix_at, outbox_rows, post_points
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.built_live import BuiltLive, built_sample_site
from tests.ledger.patrol_scenario import GATE, at, patrol_site, punch_at

GUARD, NORTH, GPS = GATE
SHIFT = f"{GUARD}/{NORTH}/20260302T000000Z"
NEXT_MORNING = 24 * 60
LEAVE = {
    "guard_id": GUARD,
    "starts_at": at(-30).isoformat(),  # 07:30
    "ends_at": at(60).isoformat(),  # 09:00
    "approved_by": "jt-leader-a",
    "approved_at": at(-50).isoformat(),  # 07:10, by phone
}


def _sent_home(tmp_path: Path) -> Path:
    """The patrol site without g-001's shifts: the leader took him off the roster."""
    doc: dict[str, Any] = yaml.safe_load(patrol_site(tmp_path / "first").read_text("utf-8"))
    site = doc["sites"][0]
    site["shifts"] = [s for s in site["shifts"] if s["guard"] != GUARD]
    path = tmp_path / "home.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _run(built: BuiltLive, first: int, last: int, checks_in: int | None) -> None:
    """Minute by minute: g-001 on post from minute ``checks_in``, checking in then (never:
    ``None``), until he is sent home; the pipeline idle and ticked after each."""
    live = built.live
    where = post_points(built.gateway.engine, NORTH).inside
    for minute in range(first, last):
        live.clock.set(at(minute + 0.1))
        on_post = checks_in is not None and checks_in <= minute < 80
        fixes = (fix_at(GPS, at(minute), where),) if on_post else ()
        punches = (punch_at(minute),) if minute == checks_in else ()
        live.runtime.submit(DecodeOutcome(fixes=fixes, punches=punches))
        assert live.runtime.wait_idle()
        assert live.runtime.wait_idle()  # and a tick after it


def _late_clock_in_alert(db_url: str) -> list[tuple[str, str | None]]:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            rows = session.scalars(
                select(AlertRow).where(
                    AlertRow.guard_id == GUARD, AlertRow.type == "alert.late_clock_in"
                )
            )
            return [(row.opened_at.strftime("%H:%M"), row.resolution) for row in rows]
    finally:
        engine.dispose()


def _day(db_url: str, tmp_path: Path, checks_in: int | None) -> list[dict[str, Any]]:
    """The morning of the module doc, g-001 checking in at minute ``checks_in``, and the
    leave typed in the next morning; the ``alert.withdrawn`` of his late clock-in for the
    record, checked to be dated then."""
    (tmp_path / "first").mkdir()
    engine = make_engine(db_url)
    try:
        create_schema(engine)
        load_site_file(patrol_site(tmp_path / "first"), engine, at(-60))
    finally:
        engine.dispose()
    clock = ManualClock(at(-60))
    with built_sample_site(db_url, clock, post=NORTH) as built:
        _run(built, -60, 80, checks_in)
    assert _late_clock_in_alert(db_url) == [("00:15", "ended" if checks_in else None)]
    clock.set(at(80))
    engine = make_engine(db_url)
    try:
        load_site_file(_sent_home(tmp_path), engine, clock.now())
    finally:
        engine.dispose()
    with built_sample_site(db_url, clock, post=NORTH) as built:
        _run(built, 80, 120, None)
        clock.set(at(NEXT_MORNING))
        client = httpx.Client(
            base_url=built.live.url, timeout=10, headers=bearer(new_token(built.gateway.engine))
        )
        with client:
            reply = client.post("/leaves", json=LEAVE)
            assert reply.status_code == 201, reply.text
            leave_id = reply.json()["id"]
        assert built.live.runtime.wait_idle()
        engine = built.gateway.engine
        with Session(engine) as session:
            shift = session.get(ShiftRow, SHIFT)
            assert shift is not None and shift.cut_short and shift.ends_at == at(80)
        bodies = [
            json.loads(row.body)
            for row in outbox_rows(engine)
            if row.destination in EVENT_DESTINATIONS
        ]
    withdrawn = [
        b["data"]
        for b in bodies
        if b["type"] == "alert.withdrawn" and b["data"]["withdrawn_type"] == "alert.late_clock_in"
    ]
    for data in withdrawn:
        assert data["leave_id"] == leave_id
        assert data["detected_at"] == at(NEXT_MORNING).isoformat()
    return withdrawn


def test_a_leave_typed_in_the_next_morning_withdraws_the_late_clock_in_of_a_shift_cut_short(
    db_url: str, tmp_path: Path
) -> None:
    # In at 09:05, within the grace the leave gave (to 09:15): the alert was wrong.
    withdrawn = _day(db_url, tmp_path, checks_in=65)
    assert [(d["shift_id"], d["reason"], d["excused_until"]) for d in withdrawn] == [
        (SHIFT, "leave_on_record", at(60).isoformat())
    ]
    assert _late_clock_in_alert(db_url) == [("00:15", "withdrawn")]


def test_the_late_clock_in_of_a_shift_cut_short_stands_when_he_was_late_after_the_leave_too(
    db_url: str, tmp_path: Path
) -> None:
    # Never checked in: by 09:15, when the leave's grace ran out, he was late all the same
    # (the shift was cut at 09:20).
    assert _day(db_url, tmp_path, checks_in=None) == []
    assert _late_clock_in_alert(db_url) == [("00:15", None)]
