"""What a leader's app sends, as it sends it: a request sent twice, a time typed with the wrong
offset, an acknowledgement dated before its alert. Over the real HTTP API, a running pipeline
and a real database, on a manual clock (``test_alert_lifecycle``'s harness: g-001, team A, on
the north gate 08:00-20:00 Beijing time). SQLite and PostgreSQL.

* The same report or leave sent again (the app timed out waiting for the answer) is answered
  with the one stored (200, ``sent_again``), not kept twice: a copy of a report covered a
  second outing no one reported (``gateway.db.resent``).
* A time a person typed that is later than the gateway's clock is refused (422 naming the
  field): a Beijing time written with ``Z`` lands eight hours ahead, and a report "made" at
  16:04 covered an afternoon outing (``gateway.api.typed_times``).
* An acknowledgement dated before its alert opened is refused: ``ack_latency_s``, the figure a
  leader is assessed on, read -300 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import LeaveRow, ReportRow
from tests.e2e.helpers import DAY_START, load_sample_site
from tests.fixtures.api_tokens import bearer, new_token
from tests.integration.test_alert_lifecycle import Live, _start, at, lifecycle_site


@pytest.fixture
def live(engine: Engine, tmp_path: Path) -> Iterator[Live]:
    """``test_alert_lifecycle``'s harness, with a leader's token of team A (not an admin's)."""
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


def core_alerts(live: Live, type_: str) -> list[tuple[str, str]]:
    return [row for row in live.rows(type_) if row[1] == "core"]


def stored(live: Live, model: type[ReportRow] | type[LeaveRow]) -> int:
    with Session(live.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_report_sent_twice_is_kept_once_and_covers_one_outing(live: Live) -> None:
    """08:04: g-001 phones "to the shop, back in 10 minutes"; the app posts the report, loses
    the answer, posts it again. He is out 08:06-08:12 (covered), then walks out at 08:20
    without a word: that outing is unreported. Before, the copy covered it."""
    live.walk(4, "inside")
    report = {
        "guard_id": "g-001",
        "reported_at": at(4).isoformat(),
        "expected_return_at": at(14).isoformat(),
        "destination": "小卖部",
        "reported_to": "jt-leader-a",
    }
    first = live.http.post("/reports", json=report)
    again = live.http.post("/reports", json=report)
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    assert again.json() == {**first.json(), "sent_again": True}
    assert first.json()["sent_again"] is False
    assert stored(live, ReportRow) == 1
    live.walk(6, "inside")
    live.walk(12, "outside")  # the reported outing
    live.walk(20, "inside")
    live.walk(28, "outside")  # the unreported one
    live.tick_at(at(30))
    assert core_alerts(live, "presence.departed") == [("g-001", "core")] * 2
    assert core_alerts(live, "alert.unreported_departure") == [("g-001", "core")]


def test_a_report_left_to_default_to_now_and_sent_again_is_kept_once(live: Live) -> None:
    """Without ``reported_at`` each try is dated by its arrival: 20 s apart, the same report."""
    live.walk(4, "inside")
    report = {"guard_id": "g-001", "destination": "厕所", "reported_to": "jt-leader-a"}
    first = live.http.post("/reports", json=report)
    live.clock.set(at(4))  # 19 s after the first
    again = live.http.post("/reports", json=report)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    # Another report of his, to another place, is another report.
    other = live.http.post("/reports", json={**report, "destination": "食堂"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert stored(live, ReportRow) == 2


def test_a_leave_sent_twice_is_kept_once(live: Live) -> None:
    live.walk(4, "inside")
    leave = {
        "guard_id": "g-001",
        "starts_at": at(60).isoformat(),
        "ends_at": at(120).isoformat(),
        "approved_by": "jt-leader-a",
        "approved_at": at(3).isoformat(),
    }
    first = live.http.post("/leaves", json=leave)
    again = live.http.post("/leaves", json=leave)
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    assert again.json()["id"] == first.json()["id"] and again.json()["sent_again"] is True
    assert stored(live, LeaveRow) == 1


def refused(reply: httpx.Response, field: str) -> str:
    assert reply.status_code == 422, (reply.status_code, reply.text)
    detail: str = reply.json()["detail"]
    assert detail.startswith(f"{field} ") and "after the gateway's clock" in detail, detail
    return detail


def test_a_report_time_typed_eight_hours_ahead_is_refused(live: Live) -> None:
    """08:04 in Wuhan, typed as ``08:04:00Z``: 16:04 Beijing time. Refused; then the same
    report with its offset is taken, and the afternoon's unreported outing raises its alert
    (before, the report "made" at 16:04 covered it)."""
    live.walk(4, "inside")
    assert at(4).isoformat() == "2026-03-02T00:04:00+00:00"  # 08:04 Beijing time
    typed = {"guard_id": "g-001", "reported_at": "2026-03-02T08:04:00Z", "reported_to": "a"}
    detail = refused(live.http.post("/reports", json=typed), "reported_at")
    assert "+08:00" in detail
    fixed = {**typed, "reported_at": "2026-03-02T08:04:00+08:00"}
    assert live.http.post("/reports", json=fixed).status_code == 201
    # A minute and a half ahead is a phone's clock, not a typing error.
    ahead = {**typed, "reported_at": at(5).isoformat(), "destination": "门口"}
    assert live.http.post("/reports", json=ahead).status_code == 201
    live.cursor = at(8 * 60 - 2)
    live.walk(8 * 60 + 6, "inside")
    live.walk(8 * 60 + 14, "outside")
    live.tick_at(at(8 * 60 + 15))
    assert core_alerts(live, "alert.unreported_departure") == [("g-001", "core")]
    assert stored(live, ReportRow) == 2


def test_a_leave_approved_or_cancelled_in_the_future_is_refused(live: Live) -> None:
    live.walk(4, "inside")
    leave: dict[str, Any] = {
        "guard_id": "g-001",
        "starts_at": at(60).isoformat(),
        "ends_at": at(120).isoformat(),
        "approved_by": "jt-leader-a",
        "approved_at": "2026-03-02T08:03:00Z",
    }
    refused(live.http.post("/leaves", json=leave), "approved_at")
    assert stored(live, LeaveRow) == 0
    # A leave for later is fine: only the moments that have passed are checked.
    taken = live.http.post("/leaves", json={**leave, "approved_at": at(3).isoformat()})
    assert taken.status_code == 201
    cancel = f"/leaves/{taken.json()['id']}/cancel"
    refused(live.http.post(cancel, json={"cancelled_at": at(90).isoformat()}), "cancelled_at")
    with Session(live.engine) as session:
        assert session.scalars(select(LeaveRow.status)).one() == "approved"


def test_an_acknowledgement_dated_before_its_alert_opened_is_refused(live: Live) -> None:
    """g-001 walks out at 08:06 without a report: the alert opens at 08:06. His leader answers
    at 08:16 and types 08:00."""
    live.walk(6, "inside")
    live.walk(10, "outside")
    live.tick_at(at(16))
    alert = live.alert()
    path = f"/alerts/{alert['id']}/acknowledge"
    before = live.http.post(path, json={"by": "jt-leader-a", "at": at(0).isoformat()})
    assert before.status_code == 422, before.text
    assert "before the alert opened" in before.json()["detail"]
    refused(live.http.post(path, json={"by": "jt-leader-a", "at": at(60).isoformat()}), "at")
    assert live.alert()["acknowledged_at"] is None
    taken = live.http.post(path, json={"by": "jt-leader-a", "at": at(15).isoformat()})
    assert taken.status_code == 200, taken.text
    latency = (at(15) - datetime.fromisoformat(alert["opened_at"])).total_seconds()
    assert latency > 0 and live.alert()["ack_latency_s"] == latency
