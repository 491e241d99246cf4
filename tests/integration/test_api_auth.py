"""Who may use the API: tokens (401), roles (403), a leader's scope (his guards only) and the
audit log written with every action, over real HTTP on SQLite and PostgreSQL, with the sample
Wuhan site (team A on days under jt-leader-a, team B on nights under jt-leader-b)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from pytest_mock import MockerFixture
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.api.app import create_app
from gateway.api.tokens import revoke_token
from gateway.bootstrap import ApiServer
from gateway.clock import ManualClock
from gateway.db.auth_models import ApiTokenRow, AuditRow
from gateway.db.models import ReportRow
from gateway.pipeline.commands import ReportReaderState
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.records import DecodeOutcome
from tests.e2e.helpers import DAY_START, PostPoints, fix_at, load_sample_site, post_points
from tests.fixtures.api_tokens import bearer, new_token

SITE = "wh-jiangtan-garden"
TEAM_A = ["g-001", "g-002", "g-003", "g-004", "g-005"]


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


@dataclass
class Served:
    """A pipeline and its API on the sample site; ``as_(role, ...)`` is a client with a new
    token of that role."""

    engine: Engine
    clock: ManualClock
    runtime: PipelineRuntime[DecodeOutcome]
    url: str
    points: PostPoints
    clients: list[httpx.Client]

    def as_(self, role: str, name: str = "", **scope: Any) -> httpx.Client:
        token = new_token(self.engine, role, name=name or f"test {role}", **scope)
        client = httpx.Client(base_url=self.url, timeout=10, headers=bearer(token))
        self.clients.append(client)
        return client

    def leave_g001_post(self) -> None:
        """g-001 arrives, then is off post from 08:05: an unreported departure alert opens."""
        cursor = at(1)
        while cursor < at(8):
            self.clock.set(cursor + timedelta(seconds=1))
            where = self.points.inside if cursor < at(5) else self.points.outside
            self.runtime.submit(DecodeOutcome(fixes=(fix_at("gps-001", cursor, where),)))
            assert self.runtime.wait_idle()
            cursor += timedelta(seconds=30)


@pytest.fixture
def served(engine: Engine) -> Iterator[Served]:
    load_sample_site(engine)
    clock = ManualClock(DAY_START)
    runtime: PipelineRuntime[DecodeOutcome] = PipelineRuntime(
        Processor(engine, clock), clock, lambda o: o
    )
    runtime.start()
    server = ApiServer(create_app(runtime, engine, clock))
    clients: list[httpx.Client] = []
    try:
        yield Served(
            engine,
            clock,
            runtime,
            server.start(),
            post_points(engine, "jt-gate-north"),
            clients,
        )
    finally:
        for client in clients:
            client.close()
        server.stop()
        runtime.stop()


def audit_rows(engine: Engine) -> list[AuditRow]:
    with Session(engine) as session:
        return list(session.scalars(select(AuditRow).order_by(AuditRow.id)))


# --- 401: no token, a wrong one, a revoked one ----------------------------------------------

ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/reports", {"guard_id": "g-001"}),
    ("POST", "/leaves", None),
    ("POST", "/leaves/x/cancel", {}),
    ("GET", "/whereabouts", None),
    ("GET", "/alerts", None),
    ("POST", "/alerts/1/acknowledge", {"by": "jt-leader-a"}),
    ("POST", "/wands/w/downloads?wand_clock=2026-03-02T08:00:00Z", None),
    ("GET", "/audit", None),
]


def test_every_route_but_health_answers_401_with_a_bearer_challenge_without_a_token(
    served: Served,
) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as anonymous:
        answers = [anonymous.request(m, path, json=body) for m, path, body in ROUTES]
        assert [a.status_code for a in answers] == [401] * len(ROUTES)
        assert {a.headers["WWW-Authenticate"] for a in answers} == {'Bearer realm="guard-gateway"'}
        assert answers[0].json()["detail"].startswith("an API token is required")
        assert anonymous.get("/health").status_code == 200
    assert audit_rows(served.engine) == []
    with Session(served.engine) as session:
        assert session.scalar(select(func.count()).select_from(ReportRow)) == 0


def test_an_unknown_or_revoked_token_is_401_invalid_token(served: Served) -> None:
    admin = served.as_("admin")
    assert admin.get("/whereabouts").status_code == 200
    forged = {"Authorization": "Bearer gw_" + "A" * 43}
    answer = httpx.get(served.url + "/whereabouts", headers=forged, timeout=10)
    basic = httpx.get(served.url + "/whereabouts", auth=("admin", "x"), timeout=10)
    assert answer.status_code == 401 and basic.status_code == 401
    assert (
        answer.headers["WWW-Authenticate"] == 'Bearer realm="guard-gateway", error="invalid_token"'
    )

    with Session(served.engine) as session, session.begin():
        [row] = session.scalars(select(ApiTokenRow))
        revoke_token(session, row.id, served.clock.now())
    revoked = admin.get("/whereabouts")
    assert revoked.status_code == 401
    assert revoked.json()["detail"] == "the API token is unknown or revoked"


def test_tokens_are_stored_as_their_sha256_only(served: Served) -> None:
    token = new_token(served.engine, "integration", name="core")
    with Session(served.engine) as session:
        [row] = session.scalars(select(ApiTokenRow))
    assert token.startswith("gw_") and len(token) == 3 + 43  # 32 bytes, base64url
    assert row.token_sha256 != token and len(row.token_sha256) == 64
    assert token not in repr(row.__dict__)


# --- 403: what each role may do ---------------------------------------------------------------


def test_integration_files_reports_and_leaves_and_reads_but_may_not_acknowledge_or_audit(
    served: Served,
) -> None:
    core = served.as_("integration", "management core")
    served.clock.set(at(2))
    report = core.post("/reports", json={"guard_id": "g-001"})
    leave = core.post(
        "/leaves",
        json={
            "guard_id": "g-002",
            "starts_at": at(30).isoformat(),
            "ends_at": at(90).isoformat(),
            "approved_by": "jt-leader-a",
        },
    )
    cancel = core.post(f"/leaves/{leave.json()['id']}/cancel", json={})
    assert [report.status_code, leave.status_code, cancel.status_code] == [201, 201, 200]
    assert core.get("/whereabouts").status_code == 200
    assert core.get("/alerts").status_code == 200

    acknowledge = core.post("/alerts/1/acknowledge", json={"by": "jt-leader-a"})
    wand = core.post("/wands/w/downloads", params={"wand_clock": at(0).isoformat()}, content="")
    audit = core.get("/audit")
    assert [acknowledge.status_code, wand.status_code, audit.status_code] == [403, 403, 403]
    assert audit.json()["detail"] == "an integration token may not do this (allowed: admin)"


def test_a_leader_may_not_read_the_audit_log(served: Served) -> None:
    leader = served.as_("leader", sites=(SITE,))
    assert leader.get("/audit").status_code == 403


# --- a leader's scope ------------------------------------------------------------------------


def test_a_leader_sees_the_whereabouts_and_alerts_of_his_team_only(served: Served) -> None:
    served.leave_g001_post()
    admin = served.as_("admin")
    leader_a = served.as_("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
    leader_b = served.as_("leader", "jt-leader-b", sites=(SITE,), teams=("B",))
    elsewhere = served.as_("leader", "another site's leader", sites=("jt-elsewhere",))
    whole_site = served.as_("leader", "site manager", sites=(SITE,))

    def on_duty(client: httpx.Client) -> list[str]:
        return [g["guard_id"] for g in client.get("/whereabouts").json()["guards"]]

    everyone = on_duty(admin)
    assert set(TEAM_A) <= set(everyone)
    assert on_duty(leader_a) == sorted(g for g in everyone if g in TEAM_A)
    assert on_duty(leader_b) == [g for g in everyone if g not in TEAM_A]
    assert on_duty(elsewhere) == []
    assert on_duty(whole_site) == everyone

    def alerts(client: httpx.Client, **params: str) -> list[str]:
        return [a["guard_id"] for a in client.get("/alerts", params=params).json()]

    assert alerts(admin) == ["g-001"]
    assert alerts(leader_a) == ["g-001"]
    assert alerts(leader_b) == []
    assert alerts(leader_b, guard_id="g-001") == []
    assert alerts(elsewhere) == []


def test_a_leader_acts_on_his_guards_only(served: Served) -> None:
    served.leave_g001_post()
    admin = served.as_("admin")
    leader_a = served.as_("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
    leader_b = served.as_("leader", "jt-leader-b", sites=(SITE,), teams=("B",))
    [alert] = admin.get("/alerts").json()

    report = leader_b.post("/reports", json={"guard_id": "g-001"})
    assert report.status_code == 403
    assert report.json()["detail"] == "guard 'g-001' is not within this token's scope"
    unknown_guard = leader_b.post("/reports", json={"guard_id": "g-404"})
    assert unknown_guard.status_code == 403
    leave_body = {
        "guard_id": "g-001",
        "starts_at": at(30).isoformat(),
        "ends_at": at(60).isoformat(),
        "approved_by": "jt-leader-b",
    }
    assert leader_b.post("/leaves", json=leave_body).status_code == 403
    # Another's leave or alert, named by id, is answered as unknown: nothing to probe.
    leave_id = admin.post("/leaves", json=leave_body).json()["id"]
    cancel = leader_b.post(f"/leaves/{leave_id}/cancel", json={})
    assert cancel.status_code == 404
    assert cancel.json()["detail"] == f"unknown leave {leave_id!r}"
    by_number = leader_b.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-leader-b"})
    by_key = leader_b.post(f"/alerts/{alert['alert_key']}/acknowledge", json={"by": "b"})
    assert [by_number.status_code, by_key.status_code] == [404, 404]
    assert admin.get("/alerts").json()[0]["acknowledged_by"] is None

    # In the name of no leader of the site (a typo): 422, the alert left open to escalate.
    misspelt = leader_a.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-leadr-a"})
    assert misspelt.status_code == 422
    assert misspelt.json()["detail"].startswith(
        f"by 'jt-leadr-a' is no leader of site '{SITE}': an alert is acknowledged by one of its "
        "leaders (jt-leader-a, "
    )
    assert admin.get("/alerts").json()[0]["acknowledged_by"] is None

    acknowledged = leader_a.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-leader-a"})
    cancelled = leader_a.post(f"/leaves/{leave_id}/cancel", json={})
    assert [acknowledged.status_code, cancelled.status_code] == [200, 200]
    assert acknowledged.json()["acknowledged_by"] == "jt-leader-a"
    # Refusals are answers, not pipeline failures.
    assert served.runtime.processor.counters.snapshot().get("errors.transaction", 0) == 0
    # Audited: the admin's leave, leader A's acknowledgement and cancellation; no refusal.
    assert [(r.token_name, r.action) for r in audit_rows(served.engine)] == [
        ("test admin", "leave.approve"),
        ("jt-leader-a", "alert.acknowledge"),
        ("jt-leader-a", "leave.cancel"),
    ]


# --- the audit log -------------------------------------------------------------------------


def test_every_action_is_audited_with_who_what_when_and_from_where(served: Served) -> None:
    served.leave_g001_post()
    admin = served.as_("admin", "ops desk")
    leader = served.as_("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
    core = served.as_("integration", "management core")

    served.clock.set(at(9))
    report = core.post("/reports", json={"guard_id": "g-002", "reported_to": "jt-leader-a"})
    served.clock.set(at(10))
    leave = core.post(
        "/leaves",
        json={
            "guard_id": "g-003",
            "starts_at": at(30).isoformat(),
            "ends_at": at(60).isoformat(),
            "approved_by": "jt-leader-a",
        },
    ).json()
    served.clock.set(at(11))
    [alert] = leader.get("/alerts", params={"guard_id": "g-001"}).json()
    leader.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-leader-a"})
    served.clock.set(at(61))
    core.post(f"/leaves/{leave['id']}/cancel", json={})

    records = admin.get("/audit").json()
    assert [(r["at"], r["token_name"], r["role"], r["action"], r["guard_id"]) for r in records] == [
        (at(61).isoformat(), "management core", "integration", "leave.cancel", "g-003"),
        (at(11).isoformat(), "jt-leader-a", "leader", "alert.acknowledge", "g-001"),
        (at(10).isoformat(), "management core", "integration", "leave.approve", "g-003"),
        (at(9).isoformat(), "management core", "integration", "report.file", "g-002"),
    ]
    assert [r["target"] for r in records] == [
        {"leave_id": leave["id"]},
        {"alert_id": alert["id"], "alert_key": alert["alert_key"]},
        {"leave_id": leave["id"]},
        {"report_id": report.json()["id"]},
    ]
    assert {r["client"] for r in records} == {"127.0.0.1"}
    # The body's ``by``/``approved_by`` stay what the core said; the audit names the token.
    with Session(served.engine) as session:
        tokens = {row.name: row.id for row in session.scalars(select(ApiTokenRow))}
    assert records[0]["token_id"] == tokens["management core"]
    only_leader = admin.get("/audit", params={"token_id": tokens["jt-leader-a"]}).json()
    assert [r["action"] for r in only_leader] == ["alert.acknowledge"]
    assert len(admin.get("/audit", params={"guard_id": "g-003"}).json()) == 2


def test_an_action_whose_audit_record_fails_is_not_stored_either(
    served: Served, mocker: MockerFixture
) -> None:
    admin = served.as_("admin")
    mocker.patch("gateway.api.audit.AuditRow", side_effect=RuntimeError("audit store down"))
    answer = admin.post("/reports", json={"guard_id": "g-001"})
    assert answer.status_code == 500
    with Session(served.engine) as session:
        assert session.scalar(select(func.count()).select_from(ReportRow)) == 0
    assert audit_rows(served.engine) == []


def test_an_alert_about_a_device_is_for_admin_tokens_only(served: Served) -> None:
    served.clock.set(at(3))
    served.runtime.call(ReportReaderState("em-gate", False, "unplugged", at(3)))
    admin = served.as_("admin")
    whole_site = served.as_("leader", "site manager", sites=(SITE,))
    [alert] = admin.get("/alerts").json()
    # Its subject is the device, in the column a guard's alert has its guard in.
    assert (alert["type"], alert["guard_id"]) == ("alert.device_silent", "em-gate")
    assert whole_site.get("/alerts").json() == []
    answer = whole_site.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "jt-leader-a"})
    assert answer.status_code == 404
    assert admin.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "ops"}).status_code == 200
    assert [(r.action, r.guard_id) for r in audit_rows(served.engine)] == [
        ("alert.acknowledge", "em-gate")
    ]
