"""End to end, the database failing under a running gateway: nothing lost, nothing twice.

The gateway runs as ``guard-gateway run`` builds it (``build_gateway``), fed by a terminal
over the private mosquitto and delivering to the core stub over HTTP:

* an input that fails on its own (a fault injected into the geofence stage for one fix) is
  quarantined with its reason and shown by ``guard-gateway quarantine list``; the rest of its
  batch is stored (SQLite and PostgreSQL);
* PostgreSQL loses the gateway's connections: terminated by ``pg_terminate_backend`` between
  batches, then in the middle of a batch's ``INSERT``; each batch is retried and stored once;
* SQLite's disk fills up (a 4 MiB tmpfs holding the database, filled to the last byte): the
  batch waits, the failure is logged and counted (``/health``), the file stays sound
  (``PRAGMA integrity_check``), and once space is freed the batch is stored, once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_mock import MockerFixture
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.orm import Session

import geofence
from drivers.mqtt.broker import RunningBroker
from gateway.bootstrap import ApiServer
from gateway.db.models import PositionRow
from gateway.db.quarantine import QuarantineRow
from gateway.pipeline import fix_stages
from tests.e2e.hard_cases import RigFactory, at, core_events, rig_factory
from tests.e2e.rig import Rig, running_rig
from tests.fixtures.mqtt import BrokerPublisher

__all__ = ["rig_factory"]  # the fixture, used by name

POST = "jt-gate-north"
DEVICE = "13800000001"
TOPIC = f"devices/{DEVICE}/json"
POISON_ACCURACY_M = 7.25
"""The accuracy that marks the one fix the injected fault fails on."""


def payload(minutes: float, where: tuple[float, float], accuracy_m: float = 8.0) -> bytes:
    lon, lat = where
    fix = {"time": at(minutes).isoformat(), "lat": lat, "lon": lon, "accuracy_m": accuracy_m}
    return json.dumps(fix).encode()


def positions(rig: Rig) -> tuple[int, int]:
    """(rows, distinct fix times) of the stored track."""
    with Session(rig.engine) as session:
        rows = session.scalar(select(func.count()).select_from(PositionRow)) or 0
        distinct = session.scalar(select(func.count(func.distinct(PositionRow.fix_time)))) or 0
    return rows, distinct


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def cli(database_url: str, *args: str) -> str:
    """``guard-gateway ARGS`` on ``database_url``; its standard output."""
    env = {**os.environ, "GATEWAY_DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


# --- quarantine -------------------------------------------------------------------------------


def test_an_input_that_fails_alone_is_quarantined_and_the_rest_of_its_batch_stored(
    rig_factory: RigFactory, mocker: MockerFixture, db_url: str
) -> None:
    real_classify = geofence.classify

    def classify(*args: Any) -> Any:
        if args[3] == POISON_ACCURACY_M:
            raise ValueError("geometry engine failed on this fix")
        return real_classify(*args)

    mocker.patch.object(fix_stages, "classify", classify)
    rig = rig_factory([("g-001", POST, DEVICE)])
    inside = rig.anchors[POST]
    rig.clock.set(at(2))
    # 30 fixes at 08:01:00, :02, ... published back to back: the 13th is the poison one.
    sent = [payload(1 + i / 30, inside, POISON_ACCURACY_M if i == 12 else 8.0) for i in range(30)]
    for body in sent:
        rig.publish(TOPIC, body)
    rig.settle()

    counters = rig.counters()
    assert counters["quarantined.value_error"] == 1
    assert counters["fixes.received"] == counters["fixes.stored"] == 29
    assert "errors.poison_input" not in counters
    assert "errors.database_unavailable" not in counters
    assert positions(rig) == (29, 29)
    with Session(rig.engine) as session:
        kept = list(session.scalars(select(QuarantineRow)))
    assert len(kept) == 1
    row = kept[0]
    assert (row.source, row.topic, row.raw_encoding) == ("mqtt", TOPIC, "text")
    assert row.raw == sent[12].decode() and row.raw_size == len(sent[12])
    assert row.reason_key == "value_error"
    assert row.reason == "ValueError: geometry engine failed on this fix"
    assert row.received_at == at(2) and row.quarantined_at == at(2)
    events = core_events(rig)
    assert [e["type"] for e in events if e["subject"] == "g-001"] == ["presence.arrived"]

    listed = [json.loads(line) for line in cli(db_url, "quarantine", "list", "--json").splitlines()]
    assert len(listed) == 1
    assert listed[0]["topic"] == TOPIC and listed[0]["raw"] == sent[12].decode()
    assert listed[0]["reason_key"] == "value_error"
    text_lines = cli(db_url, "quarantine", "list").splitlines()
    assert len(text_lines) == 1
    assert f"\tmqtt\t{TOPIC}\tvalue_error\t{len(sent[12])} bytes\t" in text_lines[0]


# --- PostgreSQL connection loss ---------------------------------------------------------------


def test_postgresql_connections_cut_between_and_during_batches_lose_and_repeat_nothing(
    db_url: str,
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    tmp_path: Path,
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a connection to cut: PostgreSQL only (SQLite has none)")
    name = f"gw-fault-{uuid.uuid4().hex[:8]}"
    url = f"{db_url}&application_name={name}"
    admin = create_engine(db_url.split("?", 1)[0], isolation_level="AUTOCOMMIT")

    def terminate(pid: int | None = None) -> int:
        """Terminate the gateway's backends (or only ``pid``); how many were."""
        where = "application_name = :name" + ("" if pid is None else " AND pid = :pid")
        with admin.connect() as conn:
            killed = conn.execute(
                text(
                    f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {where}"
                ),
                {"name": name, "pid": pid},
            ).scalar_one()
        return int(killed)

    try:
        with running_rig(
            url, mqtt_broker.url, mqtt_publisher, tmp_path, [("g-001", POST, DEVICE)]
        ) as rig:
            inside = rig.anchors[POST]
            rig.clock.set(at(2))
            for i in range(10):
                rig.publish(TOPIC, payload(1 + i / 30, inside))
            rig.settle()
            assert positions(rig) == (10, 10)

            # Between batches: every connection of the gateway cut while it idles. Delivery and
            # the retention purge are paused so that the first to find its connection dead is
            # the next batch.
            delivery, retention = rig.gateway.delivery, rig.gateway.retention
            assert delivery is not None and retention is not None
            delivery.stop()
            retention.stop()
            assert terminate() >= 1
            for i in range(10, 20):
                rig.publish(TOPIC, payload(1 + i / 30, inside))
            rig.settle()
            delivery.start()
            assert positions(rig) == (20, 20)
            assert rig.counters()["errors.database_unavailable"] == 1

            # During a batch: the connection running the INSERT of positions is cut under it.
            cut: list[int] = []

            def cut_mid_batch(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
                if not cut and statement.startswith("INSERT INTO positions"):
                    pid = conn.connection.dbapi_connection.info.backend_pid
                    cut.append(terminate(pid))

            event.listen(rig.gateway.engine, "before_cursor_execute", cut_mid_batch)
            for i in range(20, 30):
                rig.publish(TOPIC, payload(1 + i / 30, inside))
            rig.settle()
            event.remove(rig.gateway.engine, "before_cursor_execute", cut_mid_batch)
            assert cut == [1]

            counters = rig.counters()
            assert counters["errors.database_unavailable"] == 2
            assert counters["errors.transaction"] == 2
            assert counters["fixes.received"] == counters["fixes.stored"] == 30
            assert positions(rig) == (30, 30)
            events = core_events(rig)
            assert [e["type"] for e in events if e["subject"] == "g-001"] == ["presence.arrived"]
    finally:
        admin.dispose()


# --- SQLite disk full ---------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(directory: Path) -> Path:
    """Write a file in ``directory`` until the filesystem refuses another byte."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:
        while chunk:
            try:
                out.write(chunk)
            except OSError:
                chunk = chunk[: len(chunk) // 2]
    return filler


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_sqlite_disk_full_waits_counts_stays_sound_and_stores_once_space_is_back(
    db_url: str,
    small_disk: Path,
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    tmp_path: Path,
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("disk full of the database file: SQLite only")
    database = small_disk / "gateway.db"
    url = f"sqlite:///{database}"
    with running_rig(
        url, mqtt_broker.url, mqtt_publisher, tmp_path, [("g-001", POST, DEVICE)]
    ) as rig:
        inside = rig.anchors[POST]
        rig.clock.set(at(2))
        for i in range(10):
            rig.publish(TOPIC, payload(1 + i / 30, inside))
        rig.settle()
        assert positions(rig) == (10, 10)
        server = ApiServer(rig.gateway.app)
        api = httpx.Client(base_url=server.start(), timeout=10)
        try:
            filler = fill(small_disk)
            for i in range(10, 60):
                rig.publish(TOPIC, payload(1 + i / 30, inside))
            wait_until(
                lambda: rig.counters().get("errors.database_unavailable", 0) >= 2,
                "the batch to fail twice on the full disk",
            )
            health = api.get("/health").json()
            assert health["counters"]["errors.database_unavailable"] >= 2
            assert "fixes.stored" in health["counters"]
            assert health["counters"]["fixes.stored"] == 10
            assert integrity(database) == "ok"

            filler.unlink()
            wait_until(lambda: rig.counters().get("fixes.stored", 0) == 60, "the batch stored")
            rig.settle()
            counters = rig.counters()
            assert counters["fixes.received"] == counters["fixes.stored"] == 60
            assert not [k for k in counters if k.startswith(("dropped.", "quarantined."))]
            assert positions(rig) == (60, 60)
            assert api.get("/health").json()["counters"]["fixes.stored"] == 60
            events = core_events(rig)
            assert [e["type"] for e in events if e["subject"] == "g-001"] == ["presence.arrived"]
        finally:
            api.close()
            server.stop()
    assert integrity(database) == "ok"
