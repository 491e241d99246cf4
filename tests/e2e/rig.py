"""The end-to-end rig: simulated terminals → a private Mosquitto → the gateway as ``build_gateway``
wires it (ingest, pipeline thread, outbox delivery) → the management-core stub, on one
``ManualClock``.

Determinism: the clock only moves in ``Rig.play``, in small steps. At each step the simulator
publishes what is due (each message acknowledged by the broker), the rig waits until the
gateway's ingest has handed every message over, then until the pipeline thread has processed
them and ticked at least once at the new time. Fixes therefore reach the rules at the clock time
they were taken, as from a live terminal, and deadlines fire at the step they fall due.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine

from fwsim.core_stub import CoreStub
from fwsim.scenario import Scenario, ScenarioRunner, parse_scenario
from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.lifecycle import Gateway
from gateway.outbox.tables import OutboxRow
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, outbox_rows, post_points, roster_site
from tests.fixtures.mqtt import BrokerPublisher

__all__ = ["SECRET", "Rig", "running_rig", "terminal"]

SECRET = "e2e-secret"
STEP_S = 10.0
WAIT_S = 15.0


def terminal(
    device_id: str,
    fmt: str,
    anchor: tuple[float, float],
    timeline: list[dict[str, Any]],
    *,
    seed: int = 1,
    options: dict[str, Any] | None = None,
    start_offset_s: float = 0.0,
    upload_order: str = "stored_first",
) -> dict[str, Any]:
    """One terminal of a scenario, anchored at ``anchor`` = (lon, lat) WGS-84."""
    spec: dict[str, Any] = {
        "device_id": device_id,
        "format": fmt,
        "anchor": {"lon": anchor[0], "lat": anchor[1]},
        "interval_s": 30,
        "accuracy_m": 8,
        "seed": seed,
        "start_offset_s": start_offset_s,
        "upload_order": upload_order,
        "timeline": timeline,
    }
    if options:
        spec["options"] = options
    return spec


@dataclass
class Rig:
    """A wired gateway on a manual clock, its broker, the core stub and the posts' anchors."""

    clock: ManualClock
    gateway: Gateway
    stub: CoreStub
    broker_url: str
    publisher: BrokerPublisher
    anchors: dict[str, tuple[float, float]]
    settings: Settings | None = None
    """What the gateway was built from (``restart_gateway`` builds the next one from it)."""
    sent: int = 0
    """Messages published on the gateway's topics: the ingest must hand over as many."""
    handed_before: int = 0
    """Messages the ingest of gateways stopped earlier handed over."""
    running: bool = True
    runners: list[ScenarioRunner] = field(default_factory=list)

    @property
    def engine(self) -> Engine:
        return self.gateway.engine

    def runner(
        self, terminals: list[dict[str, Any]], name: str = "e2e", *, clock_lag_s: float = 0.0
    ) -> ScenarioRunner:
        """A connected simulator for ``terminals``, starting now (stopped at teardown).

        ``clock_lag_s``: the terminals' clocks run that far behind the true time: each message
        goes out when the scenario says, dated ``clock_lag_s`` earlier."""
        scenario = parse_scenario({"name": name, "terminals": terminals})
        lag = timedelta(seconds=clock_lag_s)
        return self.scenario_runner(scenario, self.clock.now() - lag, lag)

    def scenario_runner(
        self, scenario: Scenario, start: datetime, lag: timedelta = timedelta(0)
    ) -> ScenarioRunner:
        """A connected simulator for a loaded scenario whose timelines count from ``start``
        (a site-day file's start; what is due before the clock's time goes at the first step)."""
        runner = ScenarioRunner(scenario, self.broker_url, self.clock, start=start)
        if lag:
            runner.plan = [replace(p, at=p.at + lag) for p in runner.plan]
        runner.connect()
        self.runners.append(runner)
        return runner

    def stop_gateway(self) -> None:
        """Stop the gateway (inputs, pipeline, delivery) as a shutdown does; the broker keeps
        its session and queues what the terminals publish meanwhile."""
        assert self.running and self.gateway.ingest is not None
        self.settle()
        self.handed_before += self.gateway.ingest.stats.messages
        self.gateway.stop()
        self.running = False

    def start_gateway(self, first: str | None = None) -> None:
        """Start a new gateway process on the same database, broker session and core, and let
        it take in, at the current clock time, what the broker kept for it meanwhile.

        ``first`` orders what a real start leaves to chance: ``"tick"`` lets the pipeline tick
        at the current time before the ingest connects; ``"backlog"`` lets the ingest hand over
        everything the broker kept before the pipeline starts. ``None``: as ``Gateway.start``."""
        assert not self.running and self.settings is not None
        gateway = self.gateway = build_gateway(self.settings, self.clock)
        ingest = gateway.ingest
        assert ingest is not None and gateway.delivery is not None
        if first is None:
            gateway.start()
        elif first == "tick":
            gateway.delivery.start()
            gateway.runtime.start()
            assert gateway.runtime.wait_idle(WAIT_S)  # a tick has run after it
            ingest.start()
        else:
            assert first == "backlog"
            gateway.delivery.start()
            ingest.start()
            deadline = time.monotonic() + WAIT_S
            while self.handed_before + ingest.stats.messages < self.sent:
                assert time.monotonic() < deadline, "the broker did not hand its backlog over"
                time.sleep(0.001)
            gateway.runtime.start()
        self.running = True
        assert ingest.wait_connected(WAIT_S)
        self.settle()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish one message on a topic the gateway subscribes to (acknowledged by the broker)."""
        self.publisher.publish(topic, payload)
        self.sent += 1

    def play(
        self,
        until: datetime,
        *,
        at_step: Callable[[datetime], None] | None = None,
    ) -> None:
        """Advance the clock to ``until`` in steps, publishing what the runners have due and
        letting the gateway take it in; ``at_step(now)`` runs after each step settled."""
        while True:
            for runner in self.runners:
                self.sent += runner.run_until(self.clock.now())
            if self.running:
                self.settle()
            if at_step is not None:
                at_step(self.clock.now())
            if self.clock.now() >= until:
                return
            step = min(timedelta(seconds=STEP_S), until - self.clock.now())
            self.clock.advance(step)
            if self.running and self.gateway.delivery is not None:
                # Retries wait on the clock: look again now rather than at the next wall poll.
                self.gateway.delivery.notify()

    def settle(self) -> None:
        """Wait until everything published reached the pipeline, was processed, and the
        pipeline ticked at the current clock time."""
        ingest = self.gateway.ingest
        assert ingest is not None
        deadline = time.monotonic() + WAIT_S
        while self.handed_before + ingest.stats.messages < self.sent:
            if time.monotonic() > deadline:
                got = self.handed_before + ingest.stats.messages
                raise AssertionError(f"ingest got {got} of {self.sent} messages")
            time.sleep(0.001)
        # The owner thread runs queued inputs, then calls, then ticks: once a second call
        # returns, the tick after the first has run at the current clock time.
        assert self.gateway.runtime.wait_idle(WAIT_S)
        assert self.gateway.runtime.wait_idle(WAIT_S)

    def delivered(self, timeout_s: float = WAIT_S, max_advance_s: float = 120.0) -> list[OutboxRow]:
        """Wait until the outbox has nothing left to deliver; return all its rows.

        Retries wait on the clock, and the delivery thread runs beside the steps, so a retry may
        be set for after the last step: while something is pending the clock moves on by one
        step every 0.1 s of wall time, ``max_advance_s`` at most (less than any silence limit,
        so no rule fires because of it)."""
        deadline = time.monotonic() + timeout_s
        advanced = 0.0
        while True:
            rows = outbox_rows(self.engine)
            if all(r.delivered_at is not None for r in rows):
                return rows
            if time.monotonic() > deadline:
                pending = [r.type for r in rows if r.delivered_at is None]
                raise AssertionError(f"not delivered in {timeout_s} s: {pending}")
            time.sleep(0.1)
            if advanced < max_advance_s:
                self.clock.advance(STEP_S)
                advanced += STEP_S
                self.settle()
                if self.gateway.delivery is not None:
                    self.gateway.delivery.notify()

    def counters(self) -> dict[str, int]:
        return self.gateway.processor.counters.snapshot()


@contextmanager
def running_rig(
    db_url: str,
    broker_url: str,
    publisher: BrokerPublisher,
    tmp_path: Path,
    roster: list[tuple[str, str, str]],
    *,
    hours: Mapping[str, tuple[str, str]] | None = None,
    **settings: Any,
) -> Iterator[Rig]:
    """Load a site with ``roster`` = [(guard, post, device)] (``hours``: see ``roster_site``),
    start the stub and the gateway at the start of the day shift; stop everything afterwards."""
    engine = make_engine(db_url)
    try:
        create_schema(engine)
        load_site_file(roster_site(tmp_path, roster, hours=hours), engine, DAY_START)
        anchors = {post: post_points(engine, post).inside for _, post, _ in roster}
    finally:
        engine.dispose()
    stub = CoreStub(SECRET)
    core_url = stub.start()
    values: dict[str, Any] = {
        "database_url": db_url,
        "mqtt_url": broker_url,
        "mqtt_client_id": f"gateway-e2e-{uuid.uuid4().hex[:8]}",
        "core_url": core_url,
        "core_secret": SecretStr(SECRET),
        "event_source": "urn:guard-gateway:e2e",
        "delivery_retry_initial_s": 1.0,
        "delivery_retry_max_s": 20.0,
    }
    values.update(settings)
    clock = ManualClock(DAY_START)
    config = Settings(**values)
    gateway = build_gateway(config, clock)
    rig = Rig(clock, gateway, stub, broker_url, publisher, anchors, config)
    try:
        gateway.start()
        assert gateway.ingest is not None and gateway.ingest.wait_connected(WAIT_S)
        yield rig
    finally:
        for runner in rig.runners:
            runner.stop()
        if rig.running:
            rig.gateway.stop()
        stub.stop()
