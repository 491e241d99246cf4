"""``guard-gateway alerts list|ack|resolve`` on the configured database (SQLite, and PostgreSQL
when configured) while a pipeline runs on it: the same commands as the API, audited as the
machine's operator, the hand resolution's event in the outbox for the core and the groups."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.cli import main
from gateway.clock import ManualClock
from gateway.db.auth_models import AuditRow
from gateway.outbox.routing import RobotRouter
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.records import DecodeOutcome
from tests.e2e.helpers import DAY_START, fix_at, load_sample_site, outbox_rows, post_points
from tests.integration.test_alert_lifecycle import lifecycle_site


@pytest.fixture
def running(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PipelineRuntime[DecodeOutcome]]:
    """The lifecycle site with g-001 off post since 08:05 (one open alert), a pipeline running
    on the database, and the CLI's settings pointing at it."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_") and name != "GATEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    load_sample_site(engine, path=lifecycle_site(tmp_path))
    clock = ManualClock(DAY_START)
    runtime: PipelineRuntime[DecodeOutcome] = PipelineRuntime(
        Processor(engine, clock, route=RobotRouter()), clock, lambda o: o
    )
    runtime.start()
    points = post_points(engine, "jt-gate-north")
    for second in range(60, 8 * 60, 30):
        when = DAY_START + timedelta(seconds=second)
        where = points.inside if second < 5 * 60 else points.outside
        clock.set(when + timedelta(seconds=1))
        runtime.submit(DecodeOutcome(fixes=(fix_at("gps-001", when, where),)))
        assert runtime.wait_idle()
    try:
        yield runtime
    finally:
        runtime.stop()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[Any], str]:
    code = main(["alerts", *argv])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_list_ack_and_resolve_from_the_shell_while_the_pipeline_runs(
    running: PipelineRuntime[DecodeOutcome], engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, listed, _ = cli(capsys, "list", "--status", "open", "--guard", "g-001")
    assert code == 0
    assert [a["type"] for a in listed] == ["alert.unreported_departure"]
    alert_id = str(listed[0]["id"])
    assert cli(capsys, "list", "--guard", "g-002")[1] == []

    code, [acked], _ = cli(capsys, "ack", alert_id, "--by", "jt-leader-a", "--note", "已联系")
    assert code == 0
    assert (acked["status"], acked["acknowledged_note"]) == ("acknowledged", "已联系")
    assert acked["ack_latency_s"] > 0

    code, [resolved], _ = cli(capsys, "resolve", listed[0]["alert_key"], "--note", "误报")
    assert code == 0
    assert (resolved["status"], resolved["resolution"], resolved["resolved_note"]) == (
        "resolved",
        "by_hand",
        "误报",
    )
    assert resolved["resolved_by"]  # the operator's login name, no --by given
    assert sorted(r.destination for r in outbox_rows(engine) if r.type == "alert.resolved") == [
        "core",
        "robot:jt-wecom-a",
    ]
    with Session(engine) as session:
        audit = list(session.scalars(select(AuditRow).order_by(AuditRow.id)))
    assert [(a.token_id, a.action, a.guard_id) for a in audit] == [
        ("cli", "alert.acknowledge", "g-001"),
        ("cli", "alert.resolve", "g-001"),
    ]
    # The running pipeline goes on over the changed alert.
    assert running.wait_idle()

    code, out, err = cli(capsys, "resolve", alert_id, "--note", "again")
    assert (code, out) == (1, [])
    assert "already resolved" in err
    code, out, err = cli(capsys, "ack", "999999", "--by", "jt-leader-a")
    assert (code, out, err.strip()) == (1, [], "guard-gateway: unknown alert 999999")
    code, out, err = cli(capsys, "ack", alert_id, "--by", "x" * 65)
    assert (code, out, err.strip()) == (
        2,
        [],
        "guard-gateway: --by is longer than 64 characters",
    )


def test_an_acknowledgement_in_the_name_of_no_leader_is_refused_and_the_alert_stays_open(
    running: PipelineRuntime[DecodeOutcome], engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    # A typo in --by acknowledged the alert in nobody's name, which stopped its escalation.
    [alert] = cli(capsys, "list", "--status", "open", "--guard", "g-001")[1]
    code, out, err = cli(capsys, "ack", str(alert["id"]), "--by", "jt-leadr-a")
    assert (code, out) == (1, [])
    assert err.strip() == (
        "guard-gateway: by 'jt-leadr-a' is no leader of site 'wh-jiangtan-garden': an alert "
        "is acknowledged by one of its leaders (jt-leader-a, jt-leader-b, jt-manager)"
    )
    [still] = cli(capsys, "list", "--guard", "g-001")[1]
    assert (still["status"], still["acknowledged_by"]) == ("open", None)
    with Session(engine) as session:
        assert list(session.scalars(select(AuditRow))) == []
