"""``/metrics``, ``/health`` and ``/ready`` of a real gateway over real HTTP, with every failure
caused for real: a stopped mosquitto, an unreachable database, a database one migration behind,
a pipeline thread that ended."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.orm import Session

from drivers.mqtt.broker import RunningBroker
from gateway.bootstrap import ApiServer, build_gateway, free_port
from gateway.clock import ManualClock
from gateway.db.alerts import acknowledge_alert, open_or_update_alert, resolve_alert
from gateway.db.engine import make_engine
from gateway.db.migrate import alembic_config, current, head, upgrade
from gateway.lifecycle import Gateway
from gateway.ops.metrics import GatewayCollector
from gateway.ops.readiness import Readiness
from gateway.ops.routes import operations_routes
from gateway.outbox.tables import OutboxRow
from gateway.outbox.writer import enqueue
from gateway.pipeline.counters import PipelineCounters
from gateway.settings import Settings
from tests.fixtures.mqtt import BrokerPublisher

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
WAIT_S = 15.0


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` parsed: (sample name, sorted labels) → value."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Served:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.api = ApiServer(gateway.app)
        self.url = ""

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10)


@pytest.fixture
def serve() -> Iterator[Callable[[Settings, bool], Served]]:
    """Build, start and serve gateways; all stopped at the end."""
    started: list[Served] = []

    def make(settings: Settings, with_ingest: bool) -> Served:
        gateway = build_gateway(
            settings, ManualClock(NOW), with_ingest=with_ingest, with_field_devices=False
        )
        served = Served(gateway)
        gateway.start()
        served.url = served.api.start()
        started.append(served)
        if with_ingest:
            assert gateway.ingest is not None and gateway.ingest.wait_connected(WAIT_S)
        return served

    yield make
    for served in started:
        served.api.stop()
        served.gateway.stop()


def test_metrics_are_scraped_parsed_and_tell_the_figures_of_this_gateway_only(
    db_url: str,
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    serve: Callable[[Settings, bool], Served],
) -> None:
    settings = Settings(database_url=db_url, mqtt_url=mqtt_broker.url, mqtt_client_id="ops-m")
    served = serve(settings, True)
    # A second gateway in the same process has a registry of its own: no clash, own figures.
    other = serve(Settings(database_url=db_url), False)
    gateway = served.gateway
    fix = {"time": NOW.isoformat(), "lat": 30.5928, "lon": 114.3055}
    mqtt_publisher.publish("devices/nobody-1/json", json.dumps(fix).encode())
    mqtt_publisher.publish("devices/nobody-2/json", json.dumps(fix).encode())
    mqtt_publisher.publish("devices/nobody-3/json", b"not json at all")
    assert gateway.ingest is not None
    ingest = gateway.ingest
    wait_for(lambda: ingest.stats.messages == 3, "three messages handed over")
    assert gateway.runtime.wait_idle(WAIT_S)

    with Session(gateway.engine) as session, session.begin():
        for key, destination, age_s in (("e1", "core", 90), ("e2", "core", 30), ("e3", "r", 10)):
            enqueue(
                session,
                key=key,
                type="guard.test",
                subject="g-1",
                time=NOW,
                data={},
                now=NOW - timedelta(seconds=age_s),
                destinations=(destination,),
            )
        session.execute(
            update(OutboxRow).where(OutboxRow.destination == "core").values(attempts=1)
        )  # tried once and failed, as a core outage leaves them
        for n, alert_type in enumerate(("departure", "departure", "departure", "sos")):
            open_or_update_alert(
                session,
                alert_key=f"a{n}",
                alert_type=alert_type,
                guard_id="g-1",
                at=NOW,
                event_id=f"e{n}",
            )
        acknowledge_alert(session, "a1", by="leader", at=NOW)
        resolve_alert(session, "a2", at=NOW, resolution="ended")

    metrics = scrape(served.url)
    counters = gateway.processor.counters.snapshot()
    assert metrics[("guard_gateway_fixes_total", (("outcome", "received"),))] == 2
    assert counters["fixes.received"] == 2
    assert metrics[("guard_gateway_dropped_total", (("reason", "unknown_device"),))] == 2
    rejected = {k: v for k, v in metrics.items() if k[0] == "guard_gateway_rejected_total"}
    assert sum(rejected.values()) == 1
    assert {labels for _name, labels in rejected} == {
        (("reason", name.removeprefix("rejected.")),)
        for name in counters
        if name.startswith("rejected.")
    }
    assert metrics[("guard_gateway_mqtt_messages_total", ())] == 3
    assert metrics[("guard_gateway_mqtt_connected", ())] == 1
    assert metrics[("guard_gateway_queue_depth", ())] == 0
    assert metrics[("guard_gateway_database_up", ())] == 1
    # Every input went through a timed batch: the batches' inputs add up to the three sent.
    assert metrics[("guard_gateway_pipeline_batch_inputs_sum", ())] == 3
    batches = metrics[("guard_gateway_pipeline_batch_seconds_count", ())]
    assert 1 <= batches <= 3
    assert metrics[("guard_gateway_pipeline_batch_seconds_sum", ())] > 0
    dest = "destination"
    assert metrics[("guard_gateway_outbox_pending", ((dest, "core"),))] == 2
    assert metrics[("guard_gateway_outbox_failing", ((dest, "core"),))] == 2
    assert metrics[("guard_gateway_outbox_lag_seconds", ((dest, "core"),))] == 90
    assert metrics[("guard_gateway_outbox_pending", ((dest, "r"),))] == 1
    assert metrics[("guard_gateway_outbox_failing", ((dest, "r"),))] == 0
    assert metrics[("guard_gateway_outbox_lag_seconds", ((dest, "r"),))] == 10
    open_alerts = {k: v for k, v in metrics.items() if k[0] == "guard_gateway_open_alerts"}
    assert open_alerts == {
        ("guard_gateway_open_alerts", (("status", "acknowledged"), ("type", "departure"))): 1,
        ("guard_gateway_open_alerts", (("status", "open"), ("type", "departure"))): 1,
        ("guard_gateway_open_alerts", (("status", "open"), ("type", "sos"))): 1,
    }

    # The other gateway took in nothing, has no MQTT, and shares only the database.
    theirs = scrape(other.url)
    assert not any(name == "guard_gateway_fixes_total" for name, _labels in theirs)
    assert not any(name.startswith("guard_gateway_mqtt_") for name, _labels in theirs)
    assert theirs[("guard_gateway_pipeline_batch_inputs_sum", ())] == 0
    assert theirs[("guard_gateway_outbox_pending", ((dest, "core"),))] == 2


def test_ready_names_the_broker_once_mosquitto_is_stopped_while_health_stays_alive(
    db_url: str, mqtt_broker: RunningBroker, serve: Callable[[Settings, bool], Served]
) -> None:
    settings = Settings(database_url=db_url, mqtt_url=mqtt_broker.url, mqtt_client_id="ops-b")
    served = serve(settings, True)
    ready = served.get("/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["ready"] is True and body["failing"] == []
    assert list(body["checks"]) == ["pipeline", "broker", "database", "migrations"]

    mqtt_broker.stop()
    wait_for(lambda: served.get("/ready").status_code == 503, "/ready to say 503")
    body = served.get("/ready").json()
    assert body["ready"] is False and body["failing"] == ["broker"]
    assert body["checks"]["broker"]["detail"].startswith("not connected")
    assert scrape(served.url)[("guard_gateway_mqtt_connected", ())] == 0
    health = served.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "alive"


def test_ready_names_a_database_one_migration_behind_until_it_is_upgraded(
    db_url: str, serve: Callable[[Settings, bool], Served]
) -> None:
    served = serve(Settings(database_url=db_url), False)
    assert served.get("/ready").status_code == 200
    newest = head()
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(newest).down_revision
    assert isinstance(previous, str)
    engine = served.gateway.engine
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, previous)
    assert current(engine) == previous

    response = served.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["migrations"]
    detail = body["checks"]["migrations"]["detail"]
    assert f"is at revision {previous}" in detail and f"needs revision {newest}" in detail
    assert "guard-gateway db upgrade" in detail

    upgrade(engine)
    assert served.get("/ready").status_code == 200


def test_health_and_ready_say_503_once_the_pipeline_thread_has_ended(
    db_url: str, serve: Callable[[Settings, bool], Served]
) -> None:
    served = serve(Settings(database_url=db_url), False)
    health = served.get("/health")
    assert health.status_code == 200
    assert set(health.json()) == {"status", "time", "queue", "delivery", "counters"}
    served.gateway.runtime.stop()
    health = served.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "pipeline thread not running"
    ready = served.get("/ready")
    assert ready.status_code == 503 and ready.json()["failing"] == ["pipeline"]


def unreachable_url(db_url: str, tmp_path: Path) -> str:
    """The same kind of database, unreachable: an SQLite file in a directory that does not
    exist; a PostgreSQL server on a port nothing listens on."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'gone' / 'gateway.db'}"
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"


def test_ready_and_metrics_name_an_unreachable_database(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(unreachable_url(db_url, tmp_path))
    app = FastAPI()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        GatewayCollector(
            engine=engine,
            clock=ManualClock(NOW),
            counters=PipelineCounters(),
            queue_depth=lambda: 0,
            ingest=None,
            destinations=("core",),
        )
    )
    app.include_router(operations_routes(Readiness(engine, None, lambda: True), registry))
    api = ApiServer(app)
    url = api.start()
    try:
        response = httpx.get(f"{url}/ready", timeout=10)
        assert response.status_code == 503
        body = response.json()
        assert body["failing"] == ["database", "migrations"]
        assert body["checks"]["database"]["detail"].startswith("unreachable: ")
        assert body["checks"]["migrations"]["detail"] == "not checked: the database is unreachable"
        metrics = scrape(url)
        assert metrics[("guard_gateway_database_up", ())] == 0
        assert not any(name.startswith("guard_gateway_outbox") for name, _labels in metrics)
    finally:
        api.stop()
        engine.dispose()
