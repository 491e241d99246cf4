"""The HTTP API served by uvicorn on a real socket, over a running pipeline and a real database
(SQLite, and PostgreSQL when configured), with the sample Wuhan site on a manual clock.

Fixes are handed to the pipeline thread exactly as a transport would (``runtime.submit``); the
API's writes run on that same thread, so a report and the events it changes commit together.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from gateway.api.app import create_app
from gateway.bootstrap import ApiServer
from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.records import DecodeOutcome
from tests.e2e.helpers import (
    DAY_START,
    PostPoints,
    fix_at,
    load_sample_site,
    outbox_rows,
    post_points,
)
from tests.fixtures.api_tokens import bearer, new_token


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


@dataclass
class Live:
    """A running pipeline and API on the sample site."""

    engine: Engine
    clock: ManualClock
    runtime: PipelineRuntime[DecodeOutcome]
    http: httpx.Client
    points: PostPoints
    cursor: datetime = DAY_START + timedelta(minutes=1)

    def walk(self, until_min: float, where: str, every_s: float = 30) -> None:
        """g-001's terminal reports every ``every_s`` until ``until_min``; each fix is
        processed 1 s after it was taken (the clock follows)."""
        point = self.points.inside if where == "inside" else self.points.outside
        end = at(until_min)
        while self.cursor < end:
            self.clock.set(self.cursor + timedelta(seconds=1))
            self.runtime.submit(DecodeOutcome(fixes=(fix_at("gps-001", self.cursor, point),)))
            assert self.runtime.wait_idle()
            self.cursor += timedelta(seconds=every_s)
        self.cursor = end

    def types(self, guard_id: str = "g-001") -> list[str]:
        return [r.type for r in outbox_rows(self.engine) if r.subject == guard_id]


@pytest.fixture
def live(engine: Engine) -> Iterator[Live]:
    load_sample_site(engine)
    clock = ManualClock(DAY_START)
    processor = Processor(engine, clock)
    runtime: PipelineRuntime[DecodeOutcome] = PipelineRuntime(processor, clock, lambda o: o)
    runtime.start()
    server = ApiServer(create_app(runtime, engine, clock))
    url = server.start()
    client = httpx.Client(base_url=url, timeout=10, headers=bearer(new_token(engine)))
    try:
        yield Live(engine, clock, runtime, client, post_points(engine, "jt-gate-north"))
    finally:
        client.close()
        server.stop()
        runtime.stop()


def detail(reply: httpx.Response) -> str:
    return str(reply.json()["detail"])


# --- reports -------------------------------------------------------------------------------


def test_post_report_records_it_and_covers_the_departure_that_follows(live: Live) -> None:
    live.walk(4, "inside")
    live.clock.set(at(4))
    reply = live.http.post(
        "/reports",
        json={
            "guard_id": "g-001",
            "expected_return_at": "2026-03-02T08:15:00+08:00",
            "destination": "便利店",
            "reported_to": "jt-leader-a",
        },
    )
    assert reply.status_code == 201
    report = reply.json()
    assert report["guard_id"] == "g-001"
    assert report["reported_at"] == at(4).isoformat()  # default: now, on the gateway clock
    assert report["expected_return_at"] == at(15).isoformat()
    assert report["destination"] == "便利店" and report["reported_to"] == "jt-leader-a"

    live.walk(5, "inside")
    live.walk(12, "outside")
    live.walk(15, "inside")
    assert live.types() == ["presence.arrived", "presence.departed", "presence.returned"]
    alerts = live.http.get("/alerts", params={"guard_id": "g-001"}).json()
    assert alerts == []


def test_report_for_an_unknown_guard_is_404_and_names_him(live: Live) -> None:
    reply = live.http.post("/reports", json={"guard_id": "g-404"})
    assert reply.status_code == 404
    assert "g-404" in detail(reply)
    health = live.http.get("/health").json()
    assert "errors.transaction" not in health["counters"]  # a refused request is no fault


def test_report_with_a_naive_time_is_422(live: Live) -> None:
    reply = live.http.post(
        "/reports", json={"guard_id": "g-001", "reported_at": "2026-03-02T08:04:00"}
    )
    assert reply.status_code == 422
    assert "reported_at" in str(reply.json()["detail"])
    assert "timezone" in str(reply.json()["detail"])


def test_report_expected_back_before_it_was_made_is_422(live: Live) -> None:
    reply = live.http.post(
        "/reports",
        json={
            "guard_id": "g-001",
            "reported_at": "2026-03-01T23:59:00Z",
            "expected_return_at": "2026-03-01T23:55:00Z",
        },
    )
    assert reply.status_code == 422
    assert "expected return" in detail(reply)


def test_report_with_an_unknown_field_is_422(live: Live) -> None:
    reply = live.http.post("/reports", json={"guard_id": "g-001", "minutes": 10})
    assert reply.status_code == 422
    assert "minutes" in str(reply.json()["detail"])


# --- leaves --------------------------------------------------------------------------------


def leave_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "guard_id": "g-001",
        "starts_at": "2026-03-02T08:05:00+08:00",
        "ends_at": "2026-03-02T08:45:00+08:00",
        "approved_by": "jt-leader-a",
        "reason": "看病",
    }
    body.update(overrides)
    return body


def test_leave_is_recorded_and_cancelling_it_twice_is_409(live: Live) -> None:
    live.clock.set(at(2))
    reply = live.http.post("/leaves", json=leave_body())
    assert reply.status_code == 201
    leave = reply.json()
    assert leave["status"] == "approved"
    assert leave["starts_at"] == at(5).isoformat() and leave["ends_at"] == at(45).isoformat()
    assert leave["approved_at"] == at(2).isoformat()

    live.clock.set(at(50))
    first = live.http.post(f"/leaves/{leave['id']}/cancel", json={})
    assert first.status_code == 200
    assert first.json()["status"] == "cancelled"
    assert first.json()["cancelled_at"] == at(50).isoformat()
    second = live.http.post(f"/leaves/{leave['id']}/cancel", json={})
    assert second.status_code == 409
    assert "already cancelled" in detail(second)


def test_a_cancellation_dated_before_the_leave_was_approved_is_422(live: Live) -> None:
    live.clock.set(at(2))
    leave = live.http.post("/leaves", json=leave_body()).json()
    early = live.http.post(
        f"/leaves/{leave['id']}/cancel", json={"cancelled_at": at(1).isoformat()}
    )
    assert early.status_code == 422
    assert "is before leave" in detail(early) and "was approved" in detail(early)
    # Nothing changed: it can still be cancelled, from its approval on.
    assert (
        live.http.post(
            f"/leaves/{leave['id']}/cancel", json={"cancelled_at": at(2).isoformat()}
        ).status_code
        == 200
    )


def test_leave_ending_before_it_starts_is_422(live: Live) -> None:
    reply = live.http.post("/leaves", json=leave_body(ends_at="2026-03-02T08:00:00+08:00"))
    assert reply.status_code == 422
    assert "ends_at must be after starts_at" in str(reply.json()["detail"])


def test_leave_with_naive_times_is_422(live: Live) -> None:
    reply = live.http.post("/leaves", json=leave_body(starts_at="2026-03-02T08:05:00"))
    assert reply.status_code == 422
    assert "starts_at" in str(reply.json()["detail"])


def test_leave_for_an_unknown_guard_is_404(live: Live) -> None:
    reply = live.http.post("/leaves", json=leave_body(guard_id="g-404"))
    assert reply.status_code == 404
    assert "g-404" in detail(reply)


def test_cancelling_an_unknown_leave_is_404(live: Live) -> None:
    reply = live.http.post("/leaves/no-such-leave/cancel", json={})
    assert reply.status_code == 404
    assert "no-such-leave" in detail(reply)


def test_leave_covers_a_long_departure_and_cancelling_on_return_raises_nothing(
    live: Live,
) -> None:
    live.clock.set(at(0.5))
    leave = live.http.post("/leaves", json=leave_body()).json()
    live.walk(5, "inside")
    live.walk(30, "outside")
    live.walk(33, "inside")
    live.clock.set(at(33))
    assert live.http.post(f"/leaves/{leave['id']}/cancel").status_code == 200
    live.walk(100, "inside", every_s=120)
    assert live.types() == [
        "presence.arrived",
        "presence.departed",
        "presence.returned",
        "leave.cancelled",
    ]


def test_a_leave_approved_before_the_shift_but_posted_after_its_alerts_withdraws_them(
    live: Live,
) -> None:
    # g-001 is not on post at 08:00: absent and silent at 08:10. At 08:30 his leader posts the
    # leave he approved by phone at 07:10, 07:30-08:50; g-001 comes on post at 08:55.
    live.clock.set(at(20))
    assert live.runtime.wait_idle() and live.runtime.wait_idle()  # a tick after the call
    assert live.types() == ["alert.absent_at_shift_start", "alert.device_silent"]
    live.clock.set(at(30))
    body = leave_body(
        starts_at="2026-03-02T07:30:00+08:00",
        ends_at="2026-03-02T08:50:00+08:00",
        approved_at="2026-03-02T07:10:00+08:00",
    )
    assert live.http.post("/leaves", json=body).status_code == 201
    live.cursor = at(55)
    live.walk(60, "inside")
    assert live.types() == [
        "alert.absent_at_shift_start",
        "alert.device_silent",
        "alert.withdrawn",
        "alert.withdrawn",
        "presence.arrived",
    ]
    alerts = live.http.get("/alerts", params={"guard_id": "g-001"}).json()
    assert sorted((a["type"], a["status"], a["resolution"]) for a in alerts) == [
        ("alert.absent_at_shift_start", "resolved", "withdrawn"),
        ("alert.device_silent", "resolved", "withdrawn"),
    ]


# --- whereabouts ---------------------------------------------------------------------------


def test_whereabouts_lists_every_guard_on_duty_with_state_post_last_fix_and_since(
    live: Live,
) -> None:
    live.walk(5, "inside")
    now = live.http.get("/whereabouts").json()
    assert now["time"] == (at(4.5) + timedelta(seconds=1)).isoformat()
    guards = {g["guard_id"]: g for g in now["guards"]}
    assert sorted(guards) == ["g-001", "g-002", "g-003", "g-004", "g-005"]  # day team only
    me = guards["g-001"]
    assert me["state"] == "on_post"
    assert me["since"] == at(1).isoformat()
    assert me["post_id"] == "jt-gate-north"
    assert me["shift_start"] == DAY_START.isoformat()
    assert me["shift_end"] == (DAY_START + timedelta(hours=12)).isoformat()
    assert me["last_fix"]["device_id"] == "gps-001"
    assert me["last_fix"]["fix_time"] == at(4.5).isoformat()
    assert me["last_fix"]["membership"] == "inside"
    assert me["last_fix"]["lon"] == pytest.approx(live.points.inside[0])
    assert guards["g-002"]["state"] == "not_arrived"
    assert guards["g-002"]["last_fix"] is None

    live.walk(8, "outside")
    me = {g["guard_id"]: g for g in live.http.get("/whereabouts").json()["guards"]}["g-001"]
    assert me["state"] == "off_post"
    assert me["since"] == at(5).isoformat()
    assert me["last_fix"]["membership"] == "outside"
    assert me["last_fix"]["distance_m"] > 250
    assert me["covered_by"] == {"report_id": None, "leave_id": None}
    assert len(me["open_alerts"]) == 1  # the unreported departure


# --- alerts --------------------------------------------------------------------------------


def test_alerts_are_listed_and_acknowledged_with_who_and_when(live: Live) -> None:
    live.walk(5, "inside")
    live.walk(8, "outside")
    listed = live.http.get("/alerts", params={"guard_id": "g-001"}).json()
    assert [a["type"] for a in listed] == ["alert.unreported_departure"]
    alert = listed[0]
    assert alert["status"] == "open"
    assert alert["acknowledged_by"] is None
    assert alert["opened_at"] == at(5).isoformat()
    assert alert["post_id"] == "jt-gate-north"

    live.clock.set(at(7.75))
    reply = live.http.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-leader-a"})
    assert reply.status_code == 200
    acked = reply.json()
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_by"] == "jt-leader-a"
    assert acked["acknowledged_at"] == at(7.75).isoformat()

    # The first acknowledgement is the evidence: a second one (by key) changes nothing.
    again = live.http.post(
        f"/alerts/{alert['alert_key']}/acknowledge",
        json={"by": "jt-leader-b", "at": "2026-03-02T08:09:00+08:00"},
    )
    assert again.status_code == 200
    assert again.json()["acknowledged_by"] == "jt-leader-a"
    assert live.http.get("/alerts", params={"status": "open"}).json() == []
    assert len(live.http.get("/alerts", params={"status": "acknowledged"}).json()) == 1

    # Back on post: the alert is resolved, its acknowledgement kept.
    live.walk(11, "inside")
    final = live.http.get("/alerts", params={"guard_id": "g-001"}).json()[0]
    assert final["status"] == "resolved"
    assert final["resolved_at"] is not None
    assert final["acknowledged_by"] == "jt-leader-a"


def test_acknowledging_an_unknown_alert_is_404(live: Live) -> None:
    reply = live.http.post("/alerts/999999/acknowledge", json={"by": "jt-leader-a"})
    assert reply.status_code == 404
    assert "999999" in detail(reply)


def test_acknowledging_with_a_naive_time_is_422(live: Live) -> None:
    live.walk(5, "inside")
    live.walk(8, "outside")
    alert = live.http.get("/alerts", params={"guard_id": "g-001"}).json()[0]
    reply = live.http.post(
        f"/alerts/{alert['id']}/acknowledge",
        json={"by": "jt-leader-a", "at": "2026-03-02T08:09:00"},
    )
    assert reply.status_code == 422


def test_alerts_filter_by_status_is_checked(live: Live) -> None:
    reply = live.http.get("/alerts", params={"status": "closed"})
    assert reply.status_code == 422


def test_health_shows_counters_and_delivery_backlog(live: Live) -> None:
    live.walk(3, "inside")
    health = live.http.get("/health").json()
    assert health["counters"]["fixes.received"] == 4
    assert health["counters"]["fixes.stored"] == 4
    assert health["queue"] == 0
    assert health["delivery"]["pending"] == len(outbox_rows(live.engine))
