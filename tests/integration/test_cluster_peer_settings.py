"""A process of a partitioned gateway started with settings its live peers do not share, on
PostgreSQL: ``guard-gateway run --partitions 2`` without ``GATEWAY_CORE_URL`` beside a node that
delivers to the core. Started, it would turn every event still waiting for the core (its
peers' too: the alerts of a core outage) into the record only, and write the events of the
guards it takes over for no core: lost to the core. It is refused before it touches anything,
naming the setting and the peer."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from drivers.mqtt.broker import free_port
from gateway.bootstrap import build_gateway
from gateway.clock import SystemClock
from gateway.lifecycle import Gateway
from gateway.outbox.tables import OutboxRow
from gateway.settings import Settings
from tests.conftest import REPO_ROOT
from tests.fixtures.live_gateway import GATEWAY

DEAD_CORE = "http://127.0.0.1:9/events"  # down: what waits for it stays waiting


@pytest.fixture
def node_a(db_url: str) -> Iterator[Gateway]:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL")
    settings = Settings(
        database_url=db_url,
        mqtt_client_id=f"gw-{uuid.uuid4().hex[:8]}",
        partitions=2,
        node_id="gw-a",
        core_url=DEAD_CORE,
        core_secret=SecretStr("0123456789abcdef-core"),
    )
    gateway = build_gateway(settings, SystemClock(), with_field_devices=False)
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


def waiting_for_core(gateway: Gateway) -> list[str]:
    with Session(gateway.engine) as session:
        return list(
            session.scalars(
                select(OutboxRow.type).where(
                    OutboxRow.destination == "core", OutboxRow.delivered_at.is_(None)
                )
            )
        )


def test_a_process_without_the_core_its_peers_deliver_to_is_refused(
    node_a: Gateway, db_url: str, tmp_path: Path
) -> None:
    now = node_a.clock.now()
    with Session(node_a.engine) as session, session.begin():
        session.add(  # an alert of node a's, waiting for the core to come back
            OutboxRow(
                event_id=str(uuid.uuid4()),
                destination="core",
                subject="g-001",
                type="alert.unreported_departure",
                event_time=now,
                body="{}",
                created_at=now,
                attempts=1,
                next_attempt_at=now + timedelta(hours=1),
            )
        )
    settings = node_a.settings
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),  # this tree's gateway, whichever the script was built from
        "GATEWAY_DATABASE_URL": db_url,
        "GATEWAY_MQTT_CLIENT_ID": settings.mqtt_client_id,
        "GATEWAY_NODE_ID": "gw-b",
        "GATEWAY_API_PORT": str(free_port()),
    }  # no GATEWAY_CORE_URL
    log = tmp_path / "gw-b.log"
    with log.open("wb") as out:
        second = subprocess.Popen(
            [str(GATEWAY), "run", "--partitions", "2"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while second.poll() is None and "API on" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, "neither refused nor started"
            time.sleep(0.1)
    finally:
        if second.poll() is None:
            second.terminate()
            second.wait(30)
    said = log.read_text(errors="replace")
    assert second.returncode == 1, said
    assert "GATEWAY_CORE_URL" in said and "gw-a" in said, said
    assert "Traceback" not in said
    assert waiting_for_core(node_a) == ["alert.unreported_departure"]
