"""A leave's cancellation (销假) dated before checkpoint windows the leave excused makes those
checkpoints owed again: he was back on post, not on leave, when they ran out unscanned. Through
the pipeline as ``guard-gateway run`` drives it (``Processor.run_command`` with the commands
``POST /leaves`` and ``POST /leaves/{id}/cancel`` run, and over the real HTTP API with the
pipeline's runtime). Before, a leave typed in late withdrew the missed alerts and its
cancellation brought none back; a checkpoint excused on the clock stayed excused. SQLite and
PostgreSQL.

The patrol site (``tests.ledger.patrol_scenario``): g-004 patrols the central garden 08:00-10:00,
a round at 08:30 and 09:30, three checkpoints each (east 0-5, fountain 5-10, west 10-15
minutes into the round)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import AlertRow
from gateway.ledger.service import day_ledger
from gateway.pipeline.commands import ApproveLeave, CancelLeave
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, fix_at, outbox_rows, post_points
from tests.fixtures.api_tokens import bearer, new_token
from tests.integration.test_alert_lifecycle import _start
from tests.ledger.patrol_scenario import PATROLLER, at, patrol_site

SITE = "wh-jiangtan-garden"


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


def _raised_again(engine: Engine) -> list[dict[str, Any]]:
    """The data of the missed alerts sent to the core again after a cancellation."""
    found = []
    for row in outbox_rows(engine):
        data = json.loads(row.body)["data"]
        if row.destination == "core" and row.type == "alert.checkpoint_missed":
            found += [data] if data.get("raised_again") else []
    return found


def _missed_figure(engine: Engine) -> int:
    ledger = day_ledger(engine, SITE, DAY_START.date(), at(24 * 60))
    [guard] = [g for g in ledger["guards"] if g["guard_id"] == PATROLLER[0]]
    return int(guard["patrol"]["checkpoints_missed"])


def _rounds(engine: Engine) -> list[tuple[int, int]]:
    """``(missed, excused)`` of each of g-004's completed rounds."""
    return [
        (data["missed"], data["excused"])
        for row in outbox_rows(engine)
        if row.destination == "core" and row.type == "patrol.round_completed"
        for data in [json.loads(row.body)["data"]]
    ]


def _morning(
    engine: Engine, tmp_path: Path, *, typed: float, cancel_typed: float, cancelled: float
) -> None:
    """g-004 on a leave from 07:30 to 09:00 approved at 07:10 and typed in at minute ``typed``;
    its cancellation dated minute ``cancelled`` typed in at minute ``cancel_typed``; on post
    from the cancellation, walking no checkpoint. The clock runs to 10:00."""
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    where = post_points(engine, PATROLLER[1]).inside
    clock = ManualClock(at(-60))
    processor = Processor(engine, clock)
    leave: dict[str, Any] = {}
    for minute in range(-60, 120):
        clock.set(at(minute + 0.1))
        if minute == typed:
            leave = processor.run_command(
                ApproveLeave(PATROLLER[0], at(-30), at(60), "jt-leader-a", approved_at=at(-50))
            )
        if minute == cancel_typed:
            processor.run_command(CancelLeave(str(leave["id"]), at(cancelled)))
        fixes = (fix_at(PATROLLER[2], at(minute), where),) if minute >= cancelled else ()
        processor.process_outcomes([DecodeOutcome(fixes=fixes)])
        processor.tick()


def test_a_cancellation_dated_before_withdrawn_checkpoints_raises_them_again(
    engine: Engine, tmp_path: Path
) -> None:
    # The leave typed in at 09:05 withdraws the 08:30 round's three alerts; at 09:10 the leader
    # types its cancellation, dated 08:36: he was back before the fountain's (08:35-08:40) and
    # the west's (08:40-08:45) windows ran out, so those two are owed again; the east's
    # (08:30-08:35) lay in the leave and stays withdrawn.
    _morning(engine, tmp_path, typed=65, cancel_typed=70, cancelled=36)
    assert _checkpoint_alerts(engine) == [
        ("cp-east", "00:35", "withdrawn"),
        ("cp-fountain", "00:40", "withdrawn"),
        ("cp-west", "00:45", "withdrawn"),
        ("cp-fountain", "00:40", None),
        ("cp-west", "00:45", None),
        ("cp-east", "01:35", None),
        ("cp-fountain", "01:40", None),
        ("cp-west", "01:45", None),
    ]
    again = _raised_again(engine)
    assert [(d["checkpoint_id"], d["reason"], d["cancelled_at"]) for d in again] == [
        ("cp-fountain", "leave_cancelled", "2026-03-02T00:36:00+00:00"),
        ("cp-west", "leave_cancelled", "2026-03-02T00:36:00+00:00"),
    ]
    assert [d["detected_at"] for d in again] == ["2026-03-02T01:10:06+00:00"] * 2
    assert all(d["backfilled"] for d in again)
    assert _rounds(engine) == [(3, 0), (3, 0)]  # the 08:30 round's counts were final
    assert _missed_figure(engine) == 5  # fountain, west, and the 09:30 round's three


def test_a_late_cancellation_of_a_leave_on_record_makes_excused_checkpoints_missed(
    engine: Engine, tmp_path: Path
) -> None:
    # The leave on record from 07:20: the east's window (08:30-08:35) and the fountain's
    # (08:35-08:40) are excused as they run out. At 08:42 the leader types the cancellation,
    # dated 08:33: both are missed, raised now; the west's (08:40-08:45) is missed at 08:45.
    _morning(engine, tmp_path, typed=-40, cancel_typed=42, cancelled=33)
    assert _checkpoint_alerts(engine)[:3] == [
        ("cp-east", "00:35", None),
        ("cp-fountain", "00:40", None),
        ("cp-west", "00:45", None),
    ]
    assert [d["checkpoint_id"] for d in _raised_again(engine)] == []  # first raised now
    assert _rounds(engine) == [(3, 0), (3, 0)]
    assert _missed_figure(engine) == 6


@pytest.fixture
def api(engine: Engine, tmp_path: Path) -> Iterator[tuple[ManualClock, httpx.Client, Any]]:
    """The pipeline's runtime and the HTTP API on the patrol site, on a manual clock."""
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    clock = ManualClock(at(-60))
    runtime, server, url = _start(engine, clock)
    client = httpx.Client(base_url=url, timeout=10, headers=bearer(new_token(engine)))
    try:
        yield clock, client, runtime
    finally:
        client.close()
        server.stop()
        runtime.stop()


def test_over_the_http_api_the_cancellation_raises_them_again(
    engine: Engine, api: tuple[ManualClock, httpx.Client, Any]
) -> None:
    # As the first test, the leave posted at 09:05 and its cancellation, dated 08:36, at 09:10.
    clock, http, runtime = api
    where = post_points(engine, PATROLLER[1]).inside
    leave_id = ""
    for minute in range(-60, 120):
        clock.set(at(minute + 0.1))
        if minute == 65:
            reply = http.post(
                "/leaves",
                json={
                    "guard_id": PATROLLER[0],
                    "starts_at": at(-30).isoformat(),
                    "ends_at": at(60).isoformat(),
                    "approved_by": "jt-leader-a",
                    "approved_at": at(-50).isoformat(),
                },
            )
            assert reply.status_code == 201, reply.text
            leave_id = str(reply.json()["id"])
        if minute == 70:
            reply = http.post(
                f"/leaves/{leave_id}/cancel", json={"cancelled_at": at(36).isoformat()}
            )
            assert reply.status_code == 200, reply.text
        fixes = (fix_at(PATROLLER[2], at(minute), where),) if minute >= 36 else ()
        runtime.submit(DecodeOutcome(fixes=fixes))
        assert runtime.wait_idle()
        assert runtime.wait_idle()  # and a tick after it
    assert [(cp, resolution) for cp, _, resolution in _checkpoint_alerts(engine)][:5] == [
        ("cp-east", "withdrawn"),
        ("cp-fountain", "withdrawn"),
        ("cp-west", "withdrawn"),
        ("cp-fountain", None),
        ("cp-west", None),
    ]
    assert _missed_figure(engine) == 5
