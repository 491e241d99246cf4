"""A leave, or its cancellation (销假), typed in the next morning reaches the patrol of a shift
that closed meanwhile, as it reaches the shift's presence rules: through the gateway as
``guard-gateway run`` builds it (``build_gateway``), over its HTTP API (``POST /leaves``,
``POST /leaves/{id}/cancel``), restarted at the site load that ends the shift. SQLite and
PostgreSQL.

The patrol site (``tests.ledger.patrol_scenario``): g-004 patrols the central garden 08:00-10:00,
a round at 08:30 and 09:30, three checkpoints each (east 0-5, fountain 5-10, west 10-15
minutes into the round). At 09:20 the leader takes him off the roster (sent home): the site
load cuts his shift short there, its patrol machine ends as at a relief and closes, and the
09:30 round is never his. Before, the machine was saved closed and left memory, and what was
typed in the next morning reached no patrol machine: the checkpoints stayed excused, or
missed, for good, and the ledger counted them so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.models import AlertRow, ShiftRow
from gateway.db.schema import create_schema
from gateway.ledger.service import day_ledger
from gateway.outbox.tables import EVENT_DESTINATIONS
from gateway.records import DecodeOutcome
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, fix_at, outbox_rows, post_points
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.built_live import BuiltLive, built_sample_site
from tests.ledger.patrol_scenario import PATROLLER, at, patrol_site

SITE = "wh-jiangtan-garden"
SHIFT = f"{PATROLLER[0]}/{PATROLLER[1]}/20260302T000000Z"
NEXT_MORNING = 24 * 60
LEAVE = {
    "guard_id": PATROLLER[0],
    "starts_at": at(-30).isoformat(),  # 07:30
    "ends_at": at(60).isoformat(),  # 09:00
    "approved_by": "jt-leader-a",
    "approved_at": at(-50).isoformat(),  # 07:10, by phone
}


def _sent_home(tmp_path: Path) -> Path:
    """The patrol site without g-004's shifts: the leader took him off the roster."""
    doc: dict[str, Any] = yaml.safe_load(patrol_site(tmp_path / "first").read_text("utf-8"))
    site = doc["sites"][0]
    site["shifts"] = [s for s in site["shifts"] if s["guard"] != PATROLLER[0]]
    path = tmp_path / "home.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def _gateway(db_url: str, clock: ManualClock) -> Iterator[tuple[BuiltLive, httpx.Client]]:
    with built_sample_site(db_url, clock, post=PATROLLER[1]) as built:
        client = httpx.Client(
            base_url=built.live.url, timeout=10, headers=bearer(new_token(built.gateway.engine))
        )
        try:
            yield built, client
        finally:
            client.close()


def _run(built: BuiltLive, first: int, last: int, fixes_from: int | None) -> None:
    """Minute by minute, g-004's terminal on post from ``fixes_from`` (never: ``None``), the
    pipeline idle and ticked after each."""
    live = built.live
    where = post_points(built.gateway.engine, PATROLLER[1]).inside
    for minute in range(first, last):
        live.clock.set(at(minute + 0.1))
        on_post = fixes_from is not None and minute >= fixes_from
        fixes = (fix_at(PATROLLER[2], at(minute), where),) if on_post else ()
        live.runtime.submit(DecodeOutcome(fixes=fixes))
        assert live.runtime.wait_idle()
        assert live.runtime.wait_idle()  # and a tick after it


def _day(
    db_url: str,
    tmp_path: Path,
    *,
    during: Callable[[httpx.Client], None] | None,
    fixes_from: int | None,
    next_morning: Callable[[httpx.Client], None],
) -> None:
    """The patrol site loaded at 07:00; ``during`` at 07:20; g-004 sent home at 09:20, the
    gateway restarted then and run to 10:00; ``next_morning`` at 08:00 the next day."""
    (tmp_path / "first").mkdir()
    engine = make_engine(db_url)
    try:
        create_schema(engine)
        load_site_file(patrol_site(tmp_path / "first"), engine, at(-60))
    finally:
        engine.dispose()
    clock = ManualClock(at(-60))
    with _gateway(db_url, clock) as (built, client):
        _run(built, -60, -40, fixes_from)
        if during is not None:
            during(client)
        _run(built, -40, 80, fixes_from)
    clock.set(at(80))
    engine = make_engine(db_url)
    try:
        load_site_file(_sent_home(tmp_path), engine, clock.now())
    finally:
        engine.dispose()
    with _gateway(db_url, clock) as (built, client):
        _run(built, 80, 120, None)
        clock.set(at(NEXT_MORNING))
        next_morning(client)
        assert built.live.runtime.wait_idle()


def _checkpoint_alerts(engine: Engine) -> list[tuple[str, str, str | None]]:
    """``(checkpoint, opened at, resolution)`` of g-004's missed alerts, in order."""
    with Session(engine) as session:
        rows = session.scalars(
            select(AlertRow)
            .where(AlertRow.guard_id == PATROLLER[0], AlertRow.type == "alert.checkpoint_missed")
            .order_by(AlertRow.id)
        )
        return [
            (str(row.data["checkpoint_id"]), row.opened_at.strftime("%H:%M"), row.resolution)
            for row in rows
        ]


def _core(engine: Engine, *types: str) -> list[tuple[str, dict[str, Any]]]:
    """``(type, data)`` of g-004's events of ``types`` in the record (a gateway with no core
    configured keeps them so), in order."""
    out = []
    for row in outbox_rows(engine):
        data = json.loads(row.body)["data"]
        if (
            row.destination in EVENT_DESTINATIONS
            and row.type in types
            and data["guard_id"] == PATROLLER[0]
        ):
            out.append((row.type, data))
    return out


def _missed_figure(engine: Engine) -> int:
    ledger = day_ledger(engine, SITE, DAY_START.date(), at(NEXT_MORNING))
    [guard] = [g for g in ledger["guards"] if g["guard_id"] == PATROLLER[0]]
    return int(guard["patrol"]["checkpoints_missed"])


def _leave_id(client: httpx.Client) -> str:
    reply = client.post("/leaves", json=LEAVE)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def test_a_cancellation_typed_in_the_next_morning_makes_the_excused_checkpoints_missed(
    db_url: str, tmp_path: Path
) -> None:
    # The leave on record from 07:20 excuses the 08:30 round's three windows as they run out.
    # He was back at 08:36 and never cancelled; the next morning the leader types the
    # cancellation, dated 08:36: the fountain's (08:35-08:40) and the west's (08:40-08:45)
    # windows ran out while he was back on post, unscanned. The east's lay in the leave.
    leave: dict[str, str] = {}

    def during(client: httpx.Client) -> None:
        leave["id"] = _leave_id(client)

    def next_morning(client: httpx.Client) -> None:
        reply = client.post(
            f"/leaves/{leave['id']}/cancel", json={"cancelled_at": at(36).isoformat()}
        )
        assert reply.status_code == 200, reply.text

    _day(db_url, tmp_path, during=during, fixes_from=36, next_morning=next_morning)
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            shift = session.get(ShiftRow, SHIFT)
            assert shift is not None and shift.cut_short and shift.ends_at == at(80)
        assert _checkpoint_alerts(engine) == [
            ("cp-fountain", "00:40", None),
            ("cp-west", "00:45", None),
        ]
        events = _core(engine, "alert.checkpoint_missed", "patrol.round_completed")
        assert [(kind, d.get("checkpoint_id"), d.get("excused")) for kind, d in events] == [
            ("patrol.round_completed", None, 3),
            ("alert.checkpoint_missed", "cp-fountain", None),
            ("alert.checkpoint_missed", "cp-west", None),
        ]
        raised = [d for kind, d in events if kind == "alert.checkpoint_missed"]
        assert [(d["reason"], d["raised_again"], d["leave_id"]) for d in raised] == [
            ("leave_cancelled", False, leave["id"])
        ] * 2
        assert [d["detected_at"] for d in raised] == [at(NEXT_MORNING).isoformat()] * 2
        assert _missed_figure(engine) == 2
    finally:
        engine.dispose()


def test_a_leave_typed_in_the_next_morning_withdraws_the_checkpoints_missed_on_it(
    db_url: str, tmp_path: Path
) -> None:
    # No leave on record that day: the 08:30 round's three windows run out unscanned and are
    # raised missed. The next morning the leader types in the leave he approved by phone at
    # 07:10, 07:30-09:00: all three fell in it, and are withdrawn.
    def next_morning(client: httpx.Client) -> None:
        _leave_id(client)

    _day(db_url, tmp_path, during=None, fixes_from=None, next_morning=next_morning)
    engine = make_engine(db_url)
    try:
        assert _checkpoint_alerts(engine) == [
            ("cp-east", "00:35", "withdrawn"),
            ("cp-fountain", "00:40", "withdrawn"),
            ("cp-west", "00:45", "withdrawn"),
        ]
        withdrawn = _core(engine, "alert.withdrawn")
        assert [(d["withdrawn_type"], d["checkpoint_id"], d["reason"]) for _, d in withdrawn] == [
            ("alert.checkpoint_missed", "cp-east", "leave_on_record"),
            ("alert.checkpoint_missed", "cp-fountain", "leave_on_record"),
            ("alert.checkpoint_missed", "cp-west", "leave_on_record"),
        ]
        assert _missed_figure(engine) == 0
    finally:
        engine.dispose()
