"""The alert lifecycle over the real HTTP API, a running pipeline and a real database (SQLite,
and PostgreSQL when configured) on a manual clock: acknowledged with a note and its latency,
resolved by hand (``alert.resolved`` to the core and the groups), escalated exactly once at
``escalate_after_s`` to the leader named in ``reports_to``, also across a restart.

The site is the sample's, with g-001 (team A, leader jt-leader-a) on the north gate and g-006
(team B) on the east gate; jt-leader-a reports to jt-manager, and three group robots: team A's,
the manager's and jt-leader-b's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine

from gateway.api.app import create_app
from gateway.bootstrap import ApiServer
from gateway.clock import ManualClock
from gateway.cluster.node import PartitionMoving
from gateway.outbox.routing import RobotRouter
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.records import DecodeOutcome
from tests.e2e.helpers import (
    DAY_START,
    fix_at,
    load_sample_site,
    outbox_rows,
    post_points,
    roster_site,
)
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.holder_api import NodeB

SITE_ID = "wh-jiangtan-garden"
ESCALATE_AFTER = timedelta(minutes=10)


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def lifecycle_site(tmp_path: Path) -> Path:
    """The sample site with a leader hierarchy and three group robots (see the docstring)."""
    path = roster_site(
        tmp_path, [("g-001", "jt-gate-north", "gps-001"), ("g-006", "jt-gate-east", "gps-006")]
    )
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    site["leaders"].append(
        {"id": "jt-manager", "name": "黄经理", "contacts": {"phone": "13800000100"}}
    )
    site["leaders"][0]["reports_to"] = "jt-manager"
    site["robots"] = [
        {"id": "jt-wecom-a", "name": "A班组", "kind": "wecom", "webhook_ref": "a", "teams": ["A"]},
        {
            "id": "jt-ding-m",
            "name": "项目经理",
            "kind": "dingtalk",
            "webhook_ref": "m",
            "leaders": ["jt-manager"],
        },
        {
            "id": "jt-ding-b",
            "name": "B班组",
            "kind": "dingtalk",
            "webhook_ref": "b",
            "leaders": ["jt-leader-b"],
        },
    ]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Live:
    """A running pipeline (restartable) and the API on the lifecycle site."""

    engine: Engine
    clock: ManualClock
    http: httpx.Client
    url: str
    runtime: PipelineRuntime[DecodeOutcome]
    server: ApiServer
    cursor: datetime = DAY_START + timedelta(minutes=1)
    started: list[PipelineRuntime[DecodeOutcome]] = field(default_factory=list)

    def walk(self, until_min: float, where: str) -> None:
        """g-001's terminal reports every 30 s until ``until_min``, each fix processed 1 s
        after it was taken."""
        points = post_points(self.engine, "jt-gate-north")
        point = points.inside if where == "inside" else points.outside
        end = at(until_min)
        while self.cursor < end:
            self.clock.set(self.cursor + timedelta(seconds=1))
            self.runtime.submit(DecodeOutcome(fixes=(fix_at("gps-001", self.cursor, point),)))
            assert self.runtime.wait_idle()
            self.cursor += timedelta(seconds=30)
        self.cursor = end

    def tick_at(self, when: datetime) -> None:
        """Set the clock and let the pipeline tick at least once with no input: the owner
        thread ticks after every call it runs, so the second call starts after a tick."""
        self.clock.set(when)
        assert self.runtime.wait_idle()
        assert self.runtime.wait_idle()

    def restart(self) -> None:
        """Stop the pipeline and start a new processor on the same database (the API too)."""
        self.server.stop()
        self.runtime.stop()
        self.runtime, self.server, self.url = _start(self.engine, self.clock)
        self.http.base_url = httpx.URL(self.url)
        self.started.append(self.runtime)

    def rows(self, type_: str) -> list[tuple[str, str]]:
        """``(subject, destination)`` of the outbox rows of ``type_``."""
        return sorted(
            (r.subject, r.destination) for r in outbox_rows(self.engine) if r.type == type_
        )

    def body(self, type_: str) -> dict[str, Any]:
        bodies = {r.body for r in outbox_rows(self.engine) if r.type == type_}
        assert len(bodies) == 1, bodies
        loaded: dict[str, Any] = json.loads(bodies.pop())
        return loaded

    def alert(
        self, guard_id: str = "g-001", type_: str = "alert.unreported_departure"
    ) -> dict[str, Any]:
        """The guard's one alert of ``type_`` as the API lists it."""
        listed = self.http.get("/alerts", params={"guard_id": guard_id}).json()
        listed = [a for a in listed if a["type"] == type_]
        assert len(listed) == 1, listed
        found: dict[str, Any] = listed[0]
        return found


def _start(
    engine: Engine, clock: ManualClock
) -> tuple[PipelineRuntime[DecodeOutcome], ApiServer, str]:
    processor = Processor(engine, clock, route=RobotRouter())
    runtime: PipelineRuntime[DecodeOutcome] = PipelineRuntime(processor, clock, lambda o: o)
    runtime.start()
    server = ApiServer(create_app(runtime, engine, clock))
    return runtime, server, server.start()


@pytest.fixture
def live(engine: Engine, tmp_path: Path) -> Iterator[Live]:
    load_sample_site(engine, path=lifecycle_site(tmp_path))
    clock = ManualClock(DAY_START)
    runtime, server, url = _start(engine, clock)
    client = httpx.Client(base_url=url, timeout=10, headers=bearer(new_token(engine)))
    state = Live(engine, clock, client, url, runtime, server)
    try:
        yield state
    finally:
        client.close()
        state.server.stop()
        state.runtime.stop()


def departed_at_5(live: Live) -> dict[str, Any]:
    """g-001 on post from 08:01, off it from 08:05 without a report: one open alert."""
    live.walk(5, "inside")
    live.walk(8, "outside")
    alert = live.alert()
    assert (alert["type"], alert["status"], alert["opened_at"]) == (
        "alert.unreported_departure",
        "open",
        at(5).isoformat(),
    )
    return alert


ABSENT = "alert.absent_at_shift_start"
GROUPS_OF_G001 = [("g-001", "core"), ("g-001", "robot:jt-wecom-a")]


# --- acknowledgement -----------------------------------------------------------------------


def test_acknowledge_keeps_who_when_note_and_the_time_it_took(live: Live) -> None:
    alert = departed_at_5(live)
    assert alert["ack_latency_s"] is None
    live.clock.set(at(7.75))
    reply = live.http.post(
        f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-leader-a", "note": "已电话联系"}
    )
    assert reply.status_code == 200, reply.text
    acked = reply.json()
    assert acked["status"] == "acknowledged"
    assert (acked["acknowledged_by"], acked["acknowledged_note"]) == ("jt-leader-a", "已电话联系")
    assert acked["acknowledged_at"] == at(7.75).isoformat()
    assert acked["ack_latency_s"] == 165.0
    # The first acknowledgement is the evidence, note included.
    again = live.http.post(
        f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-leader-b", "note": "later"}
    )
    assert again.json()["acknowledged_note"] == "已电话联系"
    assert live.alert()["ack_latency_s"] == 165.0
    # Acknowledged in time: the clock passes the limit and nothing escalates.
    live.tick_at(at(5) + ESCALATE_AFTER)
    live.tick_at(at(5) + ESCALATE_AFTER + timedelta(minutes=2))
    assert live.rows("alert.escalated") == []
    assert live.alert()["escalated_at"] is None


def test_a_note_over_1000_characters_is_422(live: Live) -> None:
    alert = departed_at_5(live)
    reply = live.http.post(
        f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-leader-a", "note": "x" * 1001}
    )
    assert reply.status_code == 422
    reply = live.http.post(f"/alerts/{alert['id']}/resolve", json={"note": ""})
    assert reply.status_code == 422
    assert live.alert()["status"] == "open"


# --- resolution by hand --------------------------------------------------------------------


def test_resolve_by_hand_records_the_note_and_tells_the_core_and_the_groups(live: Live) -> None:
    alert = departed_at_5(live)
    live.clock.set(at(9))
    reply = live.http.post(
        f"/alerts/{alert['alert_key']}/resolve",
        json={"note": "现场核实，已回岗", "by": "jt-leader-a"},
    )
    assert reply.status_code == 200, reply.text
    resolved = reply.json()
    assert (resolved["status"], resolved["resolution"]) == ("resolved", "by_hand")
    assert (resolved["resolved_by"], resolved["resolved_note"]) == (
        "jt-leader-a",
        "现场核实，已回岗",
    )
    assert resolved["resolved_at"] == at(9).isoformat()
    assert resolved["ack_latency_s"] is None  # resolved, never acknowledged

    assert live.rows("alert.resolved") == GROUPS_OF_G001
    event = live.body("alert.resolved")
    assert event["subject"] == "g-001"
    assert event["data"]["alert_key"] == alert["alert_key"]
    assert event["data"]["alert_type"] == "alert.unreported_departure"
    assert (event["data"]["resolution"], event["data"]["note"]) == ("by_hand", "现场核实，已回岗")
    assert event["data"]["guard_name"] == "张伟"

    # Resolved before its time: it never escalates; resolving again is 409; the guard's return
    # later changes nothing of the hand resolution.
    live.tick_at(at(5) + ESCALATE_AFTER)
    assert live.rows("alert.escalated") == []
    assert (
        live.http.post(f"/alerts/{alert['id']}/resolve", json={"note": "again"}).status_code == 409
    )
    live.cursor = at(15)
    live.walk(17, "inside")
    assert "presence.returned" in {r.type for r in outbox_rows(live.engine)}
    final = live.alert()
    assert (final["resolution"], final["resolved_at"]) == ("by_hand", at(9).isoformat())
    assert len(live.rows("alert.resolved")) == 2


def test_resolve_without_by_names_the_token_and_is_audited(live: Live) -> None:
    alert = departed_at_5(live)
    token = new_token(live.engine, "leader", name="刘建国", sites=(SITE_ID,), teams=("A",))
    reply = live.http.post(
        f"/alerts/{alert['id']}/resolve", json={"note": "误报"}, headers=bearer(token)
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["resolved_by"] == "刘建国"
    audit = live.http.get("/audit", params={"action": "alert.resolve"}).json()
    assert [(a["token_name"], a["guard_id"], a["target"]["alert_id"]) for a in audit] == [
        ("刘建国", "g-001", alert["id"])
    ]


def test_a_leader_may_resolve_only_his_guards_alerts(live: Live) -> None:
    departed_at_5(live)
    live.tick_at(at(11))  # g-006 (team B) never came: absent at shift start
    other = live.alert("g-006", ABSENT)
    token = new_token(live.engine, "leader", name="a", sites=(SITE_ID,), teams=("A",))
    for action, body in (("resolve", {"note": "n"}), ("acknowledge", {"by": "jt-leader-a"})):
        reply = live.http.post(f"/alerts/{other['id']}/{action}", json=body, headers=bearer(token))
        assert reply.status_code == 404, reply.text
    assert live.alert("g-006", ABSENT)["status"] == "open"
    assert live.rows("alert.resolved") == []
    listed = live.http.get("/alerts", headers=bearer(token)).json()
    assert {a["guard_id"] for a in listed} == {"g-001"}
    integration = new_token(live.engine, "integration", name="core")
    reply = live.http.post(
        f"/alerts/{other['id']}/resolve", json={"note": "n"}, headers=bearer(integration)
    )
    assert reply.status_code == 403


# --- escalation ----------------------------------------------------------------------------


def test_escalates_exactly_at_the_limit_once_to_the_manager_and_his_group(live: Live) -> None:
    alert = departed_at_5(live)
    due = at(5) + ESCALATE_AFTER
    live.tick_at(due - timedelta(seconds=1))
    assert live.rows("alert.escalated") == []
    live.tick_at(due)
    expected = [*GROUPS_OF_G001, ("g-001", "robot:jt-ding-m")]
    assert live.rows("alert.escalated") == sorted(expected)
    for minutes in (1, 2, 3):
        live.tick_at(due + timedelta(minutes=minutes))
    assert len(live.rows("alert.escalated")) == 3

    escalated = live.alert()
    assert escalated["status"] == "open"
    assert (escalated["escalated_at"], escalated["escalated_to"]) == (
        due.isoformat(),
        ["jt-manager"],
    )
    data = live.body("alert.escalated")["data"]
    assert data["alert_id"] == alert["id"]
    assert data["unacknowledged_s"] == 600.0
    assert data["managers"] == [
        {"id": "jt-manager", "name": "黄经理", "team": None, "contacts": {"phone": "13800000100"}}
    ]

    # Acknowledging after the escalation works, and the latency counts from the opening.
    live.clock.set(due + timedelta(minutes=4))
    reply = live.http.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-manager"})
    assert reply.status_code == 200
    assert reply.json()["ack_latency_s"] == 840.0
    assert reply.json()["escalated_at"] == due.isoformat()
    # A hand resolution of an escalated alert reaches the manager's group too.
    live.http.post(f"/alerts/{alert['id']}/resolve", json={"note": "处理完毕"})
    assert live.rows("alert.resolved") == sorted(expected)


def test_escalation_survives_restarts_neither_lost_nor_repeated(live: Live) -> None:
    departed_at_5(live)
    due = at(5) + ESCALATE_AFTER
    live.tick_at(due - timedelta(seconds=30))
    live.restart()  # before it is due: the new processor knows it from the table
    live.tick_at(due)
    assert len(live.rows("alert.escalated")) == 3
    live.restart()  # after: escalated once, never again
    live.tick_at(due + timedelta(minutes=1))
    live.tick_at(due + timedelta(minutes=5))
    assert len(live.rows("alert.escalated")) == 3
    assert live.alert()["escalated_at"] == due.isoformat()


def test_no_escalation_when_nobody_is_named_above(live: Live) -> None:
    # Neither guard ever came: both absent at 08:10. g-001's leader reports to jt-manager,
    # g-006's (jt-leader-b) to nobody.
    live.tick_at(at(11))
    assert live.alert("g-006", ABSENT)["status"] == "open"
    live.tick_at(at(20))
    live.tick_at(at(40))
    assert live.alert("g-006", ABSENT)["escalated_at"] is None
    assert live.alert("g-001", ABSENT)["escalated_at"] == at(20).isoformat()
    assert {s for s, _d in live.rows("alert.escalated")} == {"g-001"}


# --- a partitioned gateway ------------------------------------------------------------------


def test_acting_on_an_alert_of_a_guard_held_elsewhere_is_sent_to_that_process(
    live: Live, node_b_api: tuple[str, type[NodeB]]
) -> None:
    """In a partitioned gateway an acknowledgement or resolution runs in the process holding
    the alert's guard, where his rules run: another process forwards it there and answers with
    the holder's answer (503 while his partition moves or the holder does not answer), and
    does nothing itself."""
    alert = departed_at_5(live)
    holder_url, holder = node_b_api
    holders = {"g-001": holder_url}  # the API of the process holding g-001

    def owner_url(guard_id: str) -> str | None:
        if guard_id in moving:
            raise PartitionMoving(7)
        return holders.get(guard_id)

    moving: set[str] = set()
    here = ApiServer(create_app(live.runtime, live.engine, live.clock, owner_url=owner_url))
    url = here.start()
    try:
        with httpx.Client(base_url=url, timeout=10, headers=live.http.headers) as other:
            sent = [
                (f"/alerts/{alert['id']}/acknowledge", {"by": "jt-leader-a"}),
                (f"/alerts/{alert['alert_key']}/resolve", {"note": "checked on site"}),
            ]
            for path, body in sent:
                forwarded = other.post(path, json=body)
                assert forwarded.status_code == 201, forwarded.text  # the holder's answer
            assert holder.received == [
                ("POST", path, live.http.headers["Authorization"], body) for path, body in sent
            ]
            holders["g-001"] = "http://127.0.0.1:1"  # killed: nothing answers there
            gone = other.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-leader-a"})
            assert (gone.status_code, gone.headers["retry-after"]) == (503, "5")
            moving.add("g-001")
            busy = other.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-leader-a"})
            assert (busy.status_code, busy.headers["retry-after"]) == (503, "5")
            # Nothing was done where the guard is not held.
            assert live.alert()["status"] == "open"
            assert live.rows("alert.resolved") == []
            # An unknown alert is answered as everywhere, without a forward.
            unknown = other.post("/alerts/999999/acknowledge", json={"by": "jt-leader-a"})
            assert unknown.status_code == 404, unknown.text
            # Once the guard is held here, the same call is done here.
            moving.clear()
            holders.clear()
            done = other.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-leader-a"})
            assert done.status_code == 200, done.text
            assert done.json()["status"] == "acknowledged"
    finally:
        here.stop()
