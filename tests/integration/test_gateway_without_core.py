"""A gateway run with only the leaders' group robots and the live page, no management core.

The company had a core (its address in ``GATEWAY_CORE_URL``) and gave it up: the events its
gateway wrote for it while the core was unreachable still wait (two arrivals). It now runs
``guard-gateway run`` without a core: team A's WeCom group gets the alerts of 张伟 (g-001), who
leaves his post unreported for twenty minutes. Events bound for a core that is not there
waited for ever: never delivered, never purged by retention, and the erasure of g-001, who has
since left the company, was refused for ever ("not delivered yet"). Now the start keeps the
waiting rows as the gateway's record and says so, the run writes each event once as a settled
record row, the ledger is still built from them, the erasure goes through, and retention
purges the record with the company's records. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fwsim.robot_stub import RobotStub
from gateway.bootstrap import ApiServer, build_gateway
from gateway.cli import main
from gateway.clock import ManualClock
from gateway.ledger.service import day_ledger
from gateway.lifecycle import Gateway
from gateway.outbox.tables import OutboxRow
from gateway.settings import Settings
from tests.e2e.helpers import DAY_START, fix_at, post_points, roster_site
from tests.fixtures.api_tokens import bearer, new_token

LEAVER = ("g-001", "jt-gate-north", "gps-a")
STAYER = ("g-002", "jt-gate-east", "gps-b")
SITE = "wh-jiangtan-garden"
KEY = "693a91f6-0000-4000-8000-1"
SECRETS = {"jt-wecom-a-key": KEY}
DEAD_CORE = "http://127.0.0.1:9/events"  # the core given up: nothing listens there


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def site_file(tmp_path: Path, stub: RobotStub, guards: list[tuple[str, str, str]]) -> Path:
    doc: dict[str, Any] = yaml.safe_load(roster_site(tmp_path, guards).read_text("utf-8"))
    doc["sites"][0]["robots"] = [
        {
            "id": "jt-wecom-a",
            "name": "A班组",
            "kind": "wecom",
            "webhook_ref": "jt-wecom-a-key",
            "url": stub.wecom_url,
            "teams": ["A"],
        }
    ]
    path = tmp_path / f"site-{len(guards)}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def outbox(engine: Engine) -> Counter[tuple[str, bool]]:
    """Outbox rows by (destination, delivered)."""
    with Session(engine) as session:
        rows = session.execute(select(OutboxRow.destination, OutboxRow.delivered_at))
        return Counter((destination, delivered is not None) for destination, delivered in rows)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(-60))


@pytest.fixture
def stub(clock: ManualClock) -> Iterator[RobotStub]:
    robots = RobotStub(clock=clock)
    robots.add_wecom(KEY, "A班组")
    with robots:
        yield robots


def settings(db_url: str, **more: Any) -> Settings:
    secrets = {name: SecretStr(value) for name, value in SECRETS.items()}
    return Settings(database_url=db_url, robot_secrets=secrets, **more)


def drive(gateway: Gateway, clock: ManualClock, minutes: range) -> None:
    """A fix a minute from both guards; g-001 off his post from 08:10 to 08:30, unreported."""
    points = {post: post_points(gateway.engine, post) for _, post, _ in (LEAVER, STAYER)}
    for minute in minutes:
        clock.set(at(minute + 0.1))
        away = 10 <= minute < 30
        leaver = points[LEAVER[1]].outside if away else points[LEAVER[1]].inside
        gateway.processor.process_fixes(
            [
                fix_at(LEAVER[2], at(minute), leaver),
                fix_at(STAYER[2], at(minute), points[STAYER[1]].inside),
            ]
        )


def test_a_run_without_core_keeps_its_events_as_the_record_and_lets_a_guard_be_erased(
    db_url: str,
    tmp_path: Path,
    clock: ManualClock,
    stub: RobotStub,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    monkeypatch.setenv("GATEWAY_ROBOT_SECRETS", f'{{"jt-wecom-a-key": "{KEY}"}}')
    assert main(["site", "load", str(site_file(tmp_path, stub, [LEAVER, STAYER]))]) == 0

    # Under the core given up: both guards arrive; the core never had the two events.
    clock.set(at(0))
    before = build_gateway(
        settings(db_url, core_url=DEAD_CORE, core_secret=SecretStr("0123456789abcdef-core")),
        clock,
        with_ingest=False,
        with_field_devices=False,
    )
    drive(before, clock, range(0, 5))
    assert outbox(before.engine) == {("core", False): 2}
    before.stop()

    # guard-gateway run without a core: the waiting arrivals become the record, with a notice.
    with caplog.at_level(logging.WARNING, logger="gateway.outbox.record"):
        gateway = build_gateway(
            settings(db_url), clock, with_ingest=False, with_field_devices=False
        )
    assert [r.getMessage() for r in caplog.records if r.name == "gateway.outbox.record"] == [
        "no management core configured (GATEWAY_CORE_URL): 2 event(s) waiting for one are "
        "kept as the gateway's record only (the ledger has them) and will not be sent"
    ]
    api = ApiServer(gateway.app)
    url = api.start()
    admin = bearer(new_token(gateway.engine))
    try:
        assert gateway.delivery is None and len(gateway.robots) == 1
        assert outbox(gateway.engine) == {("record", True): 2}
        drive(gateway, clock, range(5, 40))
        [robot] = gateway.robots
        assert robot.run_once().delivered == 3
        # + departed, unreported, overtime, returned (the alerts and the return to the group)
        assert outbox(gateway.engine) == {("record", True): 6, ("robot:jt-wecom-a", True): 3}
        assert len(stub.messages) == 3

        with httpx.Client(base_url=url, timeout=30, headers=admin) as http:
            ledger = http.get("/ledger", params={"date": "2026-03-02", "site": SITE}).json()
            g1 = next(g for g in ledger["guards"] if g["guard_id"] == LEAVER[0])
            assert [(d["duration_s"], d["coverage"]) for d in g1["departures"]] == [
                (1200.0, "none")
            ]
            assert [a["type"] for a in g1["alerts"]] == [
                "alert.unreported_departure",
                "alert.overtime_departure",
            ]

            # g-001 leaves the company: out of the site file, then, days later, erased.
            assert main(["site", "load", str(site_file(tmp_path, stub, [STAYER]))]) == 0
            clock.set(at(3 * 24 * 60))
            erased = http.post(f"/guards/{LEAVER[0]}/erase")
            assert erased.status_code == 200, erased.text
            # his five events (arrival, departed, two alerts, return), his group's three messages
            assert erased.json()["erased"]["outbox"] == 8
        assert outbox(gateway.engine) == {("record", True): 1}  # g-002's arrival

        # Two years on, the record goes with the company's records.
        clock.set(at(3 * 24 * 60) + timedelta(days=731))
        assert gateway.retention is not None
        assert gateway.retention.run_once().rows.get("events") == 1
        assert outbox(gateway.engine) == {}
    finally:
        api.stop()
        gateway.stop()


def test_an_event_kept_both_for_the_core_and_as_the_record_counts_once(
    db_url: str,
    tmp_path: Path,
    clock: ManualClock,
    stub: RobotStub,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The core had g-001's five events, not g-002's arrival; all six were written again as
    the record (a run without the core in between): the start keeps one row per event, and
    the ledger counts each event once."""
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    monkeypatch.setenv("GATEWAY_ROBOT_SECRETS", f'{{"jt-wecom-a-key": "{KEY}"}}')
    assert main(["site", "load", str(site_file(tmp_path, stub, [LEAVER, STAYER]))]) == 0
    clock.set(at(0))
    before = build_gateway(
        settings(db_url, core_url=DEAD_CORE, core_secret=SecretStr("0123456789abcdef-core")),
        clock,
        with_ingest=False,
        with_field_devices=False,
    )
    drive(before, clock, range(0, 40))
    before.stop()
    with Session(before.engine) as session, session.begin():
        core = list(session.scalars(select(OutboxRow).where(OutboxRow.destination == "core")))
        for row in core:
            if row.subject == LEAVER[0]:
                row.delivered_at = at(41)
        session.add_all(
            OutboxRow(
                event_id=row.event_id,
                destination="record",
                subject=row.subject,
                type=row.type,
                event_time=row.event_time,
                body=row.body,
                created_at=at(40),
                attempts=0,
                next_attempt_at=at(40),
                delivered_at=at(40),
            )
            for row in core
        )
    assert outbox(before.engine) == {
        ("core", True): 5,
        ("core", False): 1,
        ("record", True): 6,
        ("robot:jt-wecom-a", False): 3,
    }

    with caplog.at_level(logging.WARNING, logger="gateway.outbox.record"):
        gateway = build_gateway(
            settings(db_url), clock, with_ingest=False, with_field_devices=False
        )
    try:
        assert "1 event(s) waiting for one are kept" in caplog.text
        assert outbox(gateway.engine) == {
            ("core", True): 5,
            ("record", True): 6,
            ("robot:jt-wecom-a", False): 3,
        }
        ledger = day_ledger(gateway.engine, SITE, DAY_START.date(), at(60))
        g1 = next(g for g in ledger["guards"] if g["guard_id"] == LEAVER[0])
        assert [d["alerts"] for d in g1["departures"]] == [
            ["alert.overtime_departure", "alert.unreported_departure"]
        ]
    finally:
        gateway.stop()
