"""A group robot taken out of the site file leaves no messages waiting for ever.

Team A's WeCom group robot gets g-001's alerts: he leaves his post unreported for twenty
minutes. The group's key has been revoked, so nothing reaches it and its messages wait. The
company takes the robot out of the site file, and g-001 with it (he has left), and loads the
file with ``guard-gateway site load``; the core has had every event. No worker delivers to a
robot that is not in the file, so its waiting messages were kept for ever: never purged,
and the erasure of g-001 was refused for ever ("not delivered yet"). The load now drops them
and says so; the erasure then goes through. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from gateway.cli import main
from gateway.clock import ManualClock
from gateway.outbox.routing import RobotRouter
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import DAY_START, fix_at, post_points, roster_site
from tests.e2e.helpers import load_sample_site as load_site

LEAVER = ("g-001", "jt-gate-north", "gps-a")
STAYER = ("g-002", "jt-gate-east", "gps-b")
ROBOT = {
    "id": "jt-wecom-a",
    "name": "A班组",
    "kind": "wecom",
    "webhook_ref": "jt-wecom-a-key",
    "teams": ["A"],
}


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def with_robot(path: Path) -> Path:
    doc = yaml.safe_load(path.read_text("utf-8"))
    doc["sites"][0]["robots"] = [ROBOT]
    robot_site = path.with_name("robot-site.yaml")
    robot_site.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    return robot_site


def waiting(engine: Engine, destination: str) -> int:
    with Session(engine) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(OutboxRow.destination == destination, OutboxRow.delivered_at.is_(None))
            )
            or 0
        )


def test_a_removed_robots_waiting_messages_go_with_it(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    monkeypatch.setenv("GATEWAY_ROBOT_SECRETS", '{"jt-wecom-a-key": "693a91f6-0000-4000-8000-1"}')
    load_site(engine, at(-60), with_robot(roster_site(tmp_path, [LEAVER, STAYER])))
    points = {post: post_points(engine, post) for _, post, _ in (LEAVER, STAYER)}
    clock = ManualClock(at(0))
    processor = Processor(engine, clock, route=RobotRouter())  # as build_gateway wires it
    for minute in range(0, 40):
        clock.set(at(minute + 0.1))
        away = 10 <= minute < 30
        leaver_at = points[LEAVER[1]].outside if away else points[LEAVER[1]].inside
        processor.process_fixes(
            [
                fix_at(LEAVER[2], at(minute), leaver_at),
                fix_at(STAYER[2], at(minute), points[STAYER[1]].inside),
            ]
        )
    # unreported and overtime alerts, and the return that resolves them
    assert waiting(engine, "robot:jt-wecom-a") == 3

    without = roster_site(tmp_path, [STAYER])
    capsys.readouterr()
    assert main(["site", "load", str(without)]) == 0
    said = capsys.readouterr().err.splitlines()
    assert waiting(engine, "core") == 6  # the core has not had them yet either: below

    with Session(engine) as session, session.begin():
        core = update(OutboxRow).where(OutboxRow.destination == "core")
        session.execute(core.values(delivered_at=at(40)))  # the core has them all
    assert main(["data", "erase", "g-001", "--yes"]) == 0  # refused for ever before
    assert waiting(engine, "robot:jt-wecom-a") == 0
    assert "erased" in capsys.readouterr().out
    with Session(engine) as session:
        about_him = select(func.count()).select_from(OutboxRow)
        assert session.scalar(about_him.where(OutboxRow.subject == "g-001")) == 0
        assert session.scalar(about_him.where(OutboxRow.subject == "g-002")) == 1  # arrived
    assert (
        f"{without}: notice: group robot 'jt-wecom-a' is removed: its 3 undelivered "
        "message(s) are dropped (the event history keeps every event)"
    ) in said
