"""An event the management core refuses for itself no longer stalls its guard, SOS included.

The core is one version behind the gateway's event catalogue: it answers 422 to
``alert.unreported_departure`` (the core stub over real HTTP, ``CoreStub.refuse_type``). 张伟
(g-001) arrives on the north gate, walks off unreported at 08:10 and presses SOS at 08:13.
Before, the refused alert was retried for ever on the longest back-off and, delivery keeping
order per guard, his SOS and every later event waited behind it until someone noticed. Now the
refused event is set aside (``gateway.outbox.delivery``), the SOS reaches the core, /health says
``degraded`` and /metrics counts it, ``guard-gateway outbox refused`` lists it, and once the
core is fixed ``guard-gateway outbox retry`` sends it once more, same id and bytes, delivered
once. A wrong secret (401) refuses every event alike: everything still waits and is retried.
The gateway is built and started as ``guard-gateway run`` builds it (its delivery workers on
their threads; two sharing the outbox on PostgreSQL), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from fwsim.core_stub import CoreStub
from gateway.bootstrap import ApiServer, build_gateway
from gateway.cli import main
from gateway.clock import ManualClock
from gateway.lifecycle import Gateway
from gateway.outbox.tables import OutboxRow
from gateway.records import Alarm, DecodeOutcome
from gateway.settings import Settings
from tests.e2e.helpers import DAY_START, fix_at, post_points, roster_site

SECRET = "0123456789abcdef-core"
GUARD = ("g-001", "jt-gate-north", "gps-a")
UNKNOWN_TO_THE_CORE = "alert.unreported_departure"
RETRY_MAX_S = 60.0
WAIT_S = 20.0


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


@pytest.fixture
def stub() -> Iterator[CoreStub]:
    with CoreStub(SECRET) as core:
        yield core


@pytest.fixture(params=[1, 2], ids=["one worker", "two shared workers"])
def workers(request: pytest.FixtureRequest, db_url: str) -> int:
    if request.param > 1 and db_url.startswith("sqlite"):
        pytest.skip("workers share the outbox on PostgreSQL only")
    return int(request.param)


class Run:
    """The gateway built as ``run`` builds it, started, its API served."""

    def __init__(
        self,
        db_url: str,
        stub: CoreStub,
        secret: str,
        workers: int,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self.clock = ManualClock(at(-60))
        settings = Settings(
            database_url=db_url,
            core_url=stub.url,
            core_secret=SecretStr(secret),
            delivery_workers=workers,
            delivery_retry_max_s=retry_max_s,
        )
        self.gateway: Gateway = build_gateway(
            settings, self.clock, with_ingest=False, with_field_devices=False
        )
        self.points = post_points(self.gateway.engine, GUARD[1])
        self.gateway.start()
        self.api = ApiServer(self.gateway.app)
        self.url = self.api.start()

    def stop(self) -> None:
        self.api.stop()
        self.gateway.stop()

    def fixes(self, minutes: range, *, away: bool, sos_at: int | None = None) -> None:
        """A fix of g-001's terminal a minute, on post or off; an SOS with the one at
        ``sos_at``."""
        for minute in minutes:
            self.clock.set(at(minute + 0.1))
            where = self.points.outside if away else self.points.inside
            alarms = frozenset({Alarm.SOS}) if minute == sos_at else frozenset()
            fix = fix_at(GUARD[2], at(minute), where, alarms=alarms)
            self.gateway.runtime.submit(DecodeOutcome(fixes=(fix,)))
            assert self.gateway.runtime.wait_idle()

    def health(self) -> dict[str, object]:
        response = httpx.get(f"{self.url}/health", timeout=10)
        assert response.status_code == 200
        body: dict[str, object] = response.json()
        return body

    def refused_metric(self) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        [line] = [
            line
            for line in text.splitlines()
            if line.startswith('guard_gateway_outbox_refused{destination="core"}')
        ]
        return float(line.split()[-1])

    def rows(self) -> dict[str, OutboxRow]:
        with Session(self.gateway.engine, expire_on_commit=False) as session:
            rows = session.scalars(select(OutboxRow).where(OutboxRow.destination == "core"))
            return {row.type: row for row in rows}


@pytest.fixture
def site(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    assert main(["site", "load", str(roster_site(tmp_path, [GUARD]))]) == 0


def settled(condition: Callable[[], bool]) -> bool:
    """Whether ``condition`` holds within ``WAIT_S``: a worker commits a row's outcome just
    after the core answered (a shared pass, after its last row)."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def types(stub: CoreStub) -> list[str]:
    return [event["type"] for event in stub.events]


def test_an_event_the_core_refuses_is_set_aside_the_sos_after_it_delivered_then_sent_again(
    db_url: str,
    site: None,
    stub: CoreStub,
    workers: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stub.refuse_type(UNKNOWN_TO_THE_CORE, 422)
    run = Run(db_url, stub, SECRET, workers)
    try:
        run.fixes(range(0, 5), away=False)
        run.fixes(range(10, 14), away=True, sos_at=13)
        assert stub.wait_for(lambda: "alert.sos" in types(stub), WAIT_S), types(stub)
        assert types(stub) == ["presence.arrived", "presence.departed", "alert.sos"]
        assert settled(
            lambda: (
                run.health()["delivery"]
                == {
                    "pending": 0,
                    "failing": 0,
                    "refused": 1,
                    "oldest_pending_at": None,
                    "oldest_pending_age_s": None,
                }
            )
        )
        assert run.health()["status"] == "degraded"
        refused = run.rows()[UNKNOWN_TO_THE_CORE]
        assert stub.refused == [refused.event_id]  # tried once, not again and again
        assert refused.refused_at is not None and refused.delivered_at is None
        assert refused.last_error == (
            "HTTP 422 from core: "
            + json.dumps({"error": f"unknown event type {UNKNOWN_TO_THE_CORE!r}"})
        )
        assert run.refused_metric() == 1

        # Past the longest back-off, his return goes out, and the refused alert is not retried.
        run.clock.advance(RETRY_MAX_S + 1)
        run.fixes(range(15, 18), away=False)
        assert stub.wait_for(lambda: "presence.returned" in types(stub), WAIT_S)
        assert stub.refused == [refused.event_id]

        capsys.readouterr()
        assert main(["outbox", "refused"]) == 0
        [listed] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert (listed["id"], listed["type"], listed["subject"]) == (
            refused.event_id,
            UNKNOWN_TO_THE_CORE,
            GUARD[0],
        )
        assert listed["answer"] == refused.last_error and listed["attempts"] == 1

        # The core is upgraded: the operator sends the refused event again.
        stub.refuse_type(UNKNOWN_TO_THE_CORE, None)
        assert main(["outbox", "retry", "--type", UNKNOWN_TO_THE_CORE]) == 0
        assert capsys.readouterr().out == "1 refused event(s) put back for delivery\n"
        assert stub.wait_for(lambda: UNKNOWN_TO_THE_CORE in types(stub), WAIT_S)
        assert types(stub) == [
            "presence.arrived",
            "presence.departed",
            "alert.sos",
            "presence.returned",
            UNKNOWN_TO_THE_CORE,
        ]
        assert [body for event_id, body in stub.deliveries if event_id == refused.event_id] == [
            refused.body.encode("utf-8")
        ]
        assert stub.duplicates == [] and stub.refused == [refused.event_id]
        assert settled(lambda: run.rows()[UNKNOWN_TO_THE_CORE].delivered_at is not None)
        delivered = run.rows()[UNKNOWN_TO_THE_CORE]
        assert delivered.refused_at is None
        assert delivered.attempts == 2
        assert run.health()["status"] == "alive"
        assert run.refused_metric() == 0
        assert main(["outbox", "refused"]) == 0
        assert capsys.readouterr().out == ""
    finally:
        run.stop()


def test_a_core_refusing_the_gateway_itself_holds_every_event_and_is_retried(
    db_url: str, site: None, stub: CoreStub, workers: int
) -> None:
    """401 (a wrong secret) would refuse every event alike: nothing is set aside, the guard's
    head event is retried on the longest back-off, everything behind it waits."""
    hour = 3600.0  # longer than the walk: the one try before the clock is moved on purpose
    run = Run(db_url, stub, "another-secret-of-16+", workers, retry_max_s=hour)
    try:
        run.fixes(range(0, 5), away=False)
        run.fixes(range(10, 14), away=True, sos_at=13)
        assert stub.wait_for(lambda: stub.rejected == 1, WAIT_S)
        assert settled(lambda: sum(r.attempts for r in run.rows().values()) == 1)
        run.clock.advance(hour)
        # the runtime's next tick decides his overtime and his terminal's silence on its own
        # thread: the count below waits for them, not for the retry alone
        assert settled(lambda: len(run.rows()) == 6), sorted(run.rows())
        assert stub.wait_for(lambda: stub.rejected == 2, WAIT_S)
        assert settled(lambda: sum(r.attempts for r in run.rows().values()) == 2)
        assert stub.events == [] and stub.refused == []
        health = run.health()
        assert health["status"] == "alive"
        delivery = health["delivery"]
        assert isinstance(delivery, dict)
        assert (delivery["pending"], delivery["failing"], delivery["refused"]) == (6, 1, 0)
        assert run.refused_metric() == 0
        rows = run.rows()
        # and, the hour past, his overtime and his terminal's silence: all waiting
        assert set(rows) == {
            "presence.arrived",
            "presence.departed",
            UNKNOWN_TO_THE_CORE,
            "alert.sos",
            "alert.overtime_departure",
            "alert.device_silent",
        }
        assert [r.attempts for r in rows.values() if r.attempts] == [2]
        assert all(r.refused_at is None and r.delivered_at is None for r in rows.values())
    finally:
        run.stop()
