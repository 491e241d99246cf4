"""Leaves (请假) and their cancellations (销假) as leaders type them into the API, late or early,
over real HTTP, a running pipeline and a real database on a manual clock
(``test_alert_lifecycle``'s harness: 张伟, g-001, team A, on the north gate 08:00-20:00 Beijing
time; ``at(60)`` is 09:00). A leader's token of team A. SQLite and PostgreSQL.

* A cancellation typed as the guard walks in, before the gateway has confirmed his return (the
  30 s it waits for a second fix inside, up to ten minutes for a power-saving terminal), or
  while his terminal was in a blind area and its upload shows him back only later, is his
  cancellation on return: ``leave.cancelled`` in time, counted in his ledger. Before, it was
  recorded with no event, so his ledger showed no cancellation in time; and cancelling the
  leave the leader remembered, the first, while he was out on its extension (续假) raised
  ``alert.leave_not_cancelled`` an hour later (docs/presence-rules.md: "cancelling either
  leave settles it").
  The same for a leave over the shift start cancelled as he comes on post, and for an upload
  that shows his return only after the shift's end.
* A leave cancelled before it began covers nothing; one approved before he left covers an
  outing begun up to ``report_grace_s`` (2 min) before its start (``gateway.rules.coverage``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.records import DecodeOutcome
from tests.e2e.helpers import DAY_START, fix_at, load_sample_site, outbox_rows, post_points
from tests.fixtures.api_tokens import bearer, new_token
from tests.integration.test_alert_lifecycle import Live, _start, at, lifecycle_site

WATCHED = (
    "alert.unreported_departure",
    "alert.overtime_departure",
    "alert.leave_overrun",
    "alert.leave_not_cancelled",
    "alert.withdrawn",
    "leave.cancelled",
)


@pytest.fixture
def live(engine: Engine, tmp_path: Path) -> Iterator[Live]:
    load_sample_site(engine, path=lifecycle_site(tmp_path))
    clock = ManualClock(DAY_START)
    runtime, server, url = _start(engine, clock)
    token = new_token(
        engine, "leader", name="jt-leader-a", sites=("wh-jiangtan-garden",), teams=("A",)
    )
    client = httpx.Client(base_url=url, timeout=10, headers=bearer(token))
    state = Live(engine, clock, client, url, runtime, server)
    try:
        yield state
    finally:
        client.close()
        state.server.stop()
        state.runtime.stop()


def raised(live: Live) -> list[tuple[str, str]]:
    """g-001's alerts, withdrawals and cancellations for the core: ``(type, Beijing hh:mm:ss)``."""
    out = []
    for row in outbox_rows(live.engine):
        body = json.loads(row.body)
        if (
            row.destination == "core"
            and row.type in WATCHED
            and body["data"]["guard_id"] == "g-001"
        ):
            hour = int(body["time"][11:13]) + 8
            out.append((row.type, f"{hour:02d}{body['time'][13:19]}"))
    return out


def cancellation(live: Live) -> dict[str, Any]:
    """The data of g-001's one ``leave.cancelled`` for the core."""
    found = [
        json.loads(row.body)["data"]
        for row in outbox_rows(live.engine)
        if row.destination == "core" and row.type == "leave.cancelled"
    ]
    assert len(found) == 1, found
    data: dict[str, Any] = found[0]
    return data


def approve(live: Live, start: float, end: float, approved: float) -> str:
    reply = live.http.post(
        "/leaves",
        json={
            "guard_id": "g-001",
            "starts_at": at(start).isoformat(),
            "ends_at": at(end).isoformat(),
            "approved_by": "jt-leader-a",
            "approved_at": at(approved).isoformat(),
        },
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def cancel(live: Live, leave_id: str, when: float) -> None:
    reply = live.http.post(
        f"/leaves/{leave_id}/cancel", json={"cancelled_at": at(when).isoformat()}
    )
    assert reply.status_code == 200, reply.text


def blind_area_upload(live: Live, start: float, end: float, sent: float) -> None:
    """g-001's terminal sends at minute ``sent`` the fixes it stored inside the post, every
    30 s from minute ``start`` to ``end``."""
    inside = post_points(live.engine, "jt-gate-north").inside
    count = int((end - start) * 2)
    fixes = tuple(
        fix_at("gps-001", at(start + i / 2), inside, received_after_s=(sent - start - i / 2) * 60)
        for i in range(count)
    )
    live.clock.set(at(sent))
    live.runtime.submit(DecodeOutcome(fixes=fixes))
    assert live.runtime.wait_idle()
    live.cursor = at(sent + 0.5)


@pytest.mark.parametrize("cancelled", ["the-leave", "the-first-of-an-extended-leave"])
def test_a_cancellation_typed_as_he_walks_in_is_in_time(live: Live, cancelled: str) -> None:
    """On leave 09:00-10:00 (or 09:00-09:30, extended at 09:25 to 10:00), out 09:05-09:40;
    his leader cancels it as he walks in, 10 s after his first fix inside, before the return
    is confirmed."""
    live.walk(1, "inside")
    extended = cancelled != "the-leave"
    first = approve(live, 60, 90 if extended else 120, approved=1)
    live.walk(65, "inside")
    live.walk(85, "outside")
    if extended:
        approve(live, 90, 120, approved=85)
    live.walk(100, "outside")
    live.walk(100 + 1 / 6, "inside")
    cancel(live, first, 100 + 1 / 6)
    live.walk(170, "inside")

    assert raised(live) == [("leave.cancelled", "09:40:10")]
    data = cancellation(live)
    assert (data["leave_id"], data["returned_at"]) == (first, at(100).isoformat())
    assert (data["delay_s"], data["in_time"]) == (10.0, True)


def test_a_cancellation_typed_while_his_terminal_was_in_a_blind_area_is_in_time(
    live: Live,
) -> None:
    """On leave 09:00-10:00, out from 09:05; his terminal loses the network at 09:30 out
    there. He is back at 09:40 and cancels at 09:45, typed in then; the upload comes at
    09:50."""
    live.walk(1, "inside")
    leave_id = approve(live, 60, 120, approved=1)
    live.walk(65, "inside")
    live.walk(90, "outside")
    for minute in range(90, 106):
        live.tick_at(at(minute))
    cancel(live, leave_id, 105)
    for minute in range(106, 110):
        live.tick_at(at(minute))
    blind_area_upload(live, 100, 110, sent=110)
    live.walk(170, "inside")

    assert raised(live) == [("leave.cancelled", "09:45:00")]
    data = cancellation(live)
    assert (data["returned_at"], data["delay_s"], data["in_time"]) == (
        at(100).isoformat(),
        300.0,
        True,
    )


def test_a_cancellation_typed_in_a_blind_area_is_in_time_when_the_upload_comes_after_the_end(
    live: Live,
) -> None:
    """On leave 19:00-19:50, out from 19:05; his terminal loses the network at 19:30 out
    there. He is back at 19:40 and cancels at 19:45, typed in then; the upload comes only at
    20:30, after his shift ended at 20:00: the overrun (19:50) and the early leave (20:00)
    the clock raised are withdrawn, and his cancellation was in time."""
    live.walk(1, "inside")
    leave_id = approve(live, 660, 710, approved=1)
    live.cursor = at(650)
    live.walk(665, "inside")
    live.walk(690, "outside")
    for minute in range(690, 750):
        live.tick_at(at(minute))
        if minute == 705:
            cancel(live, leave_id, 705)
    blind_area_upload(live, 700, 720, sent=750)
    live.tick_at(at(760))

    assert raised(live) == [
        ("alert.leave_overrun", "19:50:00"),
        ("alert.withdrawn", "20:30:00"),
        ("alert.withdrawn", "20:30:00"),
        ("leave.cancelled", "19:45:00"),
    ]
    data = cancellation(live)
    assert (data["returned_at"], data["delay_s"], data["in_time"]) == (
        at(700).isoformat(),
        300.0,
        True,
    )


def test_a_leave_over_the_start_cancelled_as_he_walks_in_is_in_time(live: Live) -> None:
    """On leave 07:30-08:30 over his shift's start, he comes on post at 08:20; his leader
    cancels the leave as he walks in, 10 s after his first fix inside, before the arrival is
    confirmed."""
    leave_id = approve(live, -30, 30, approved=-1)
    live.cursor = at(20)
    live.walk(20 + 1 / 6, "inside")
    cancel(live, leave_id, 20 + 1 / 6)
    live.walk(100, "inside")

    assert raised(live) == [("leave.cancelled", "08:20:10")]
    data = cancellation(live)
    assert (data["returned_at"], data["delay_s"], data["in_time"]) == (
        at(20).isoformat(),
        10.0,
        True,
    )


@pytest.mark.parametrize(
    ("left", "alerts"),
    [
        (58, []),
        (57.5, [("alert.unreported_departure", "08:57:30")]),
    ],
    ids=["2-min-before-the-leave", "2.5-min-before-the-leave"],
)
def test_a_leave_covers_an_outing_begun_up_to_the_grace_before_it(
    live: Live, left: float, alerts: list[tuple[str, str]]
) -> None:
    """On leave 09:00-10:00, approved at 08:01; he leaves a little early and is back at
    09:40, cancelling at once. The leave holds the 15-minute mark either way: no overtime."""
    live.walk(1, "inside")
    leave_id = approve(live, 60, 120, approved=1)
    live.walk(left, "inside")
    live.walk(100, "outside")
    live.walk(101, "inside")
    cancel(live, leave_id, 101)
    live.walk(110, "inside")
    assert raised(live) == [*alerts, ("leave.cancelled", "09:41:00")]


def test_a_leave_cancelled_before_it_began_covers_nothing(live: Live) -> None:
    """On leave 09:00-10:00, cancelled at 08:30 (he will not go after all); he walks out at
    09:05 all the same, back at 09:30: unreported, and overtime at 09:20."""
    live.walk(30, "inside")
    leave_id = approve(live, 60, 120, approved=1)
    cancel(live, leave_id, 30)
    live.walk(65, "inside")
    live.walk(90, "outside")
    live.walk(130, "inside")
    assert raised(live) == [
        ("alert.unreported_departure", "09:05:00"),
        ("alert.overtime_departure", "09:20:00"),
    ]
