"""``fwsim check``: play a site-day scenario against a real gateway and judge what it delivered.

What runs (all on 127.0.0.1, all stopped by their own handles at the end):

* a private MQTT broker (``drivers.mqtt.broker.start_broker``: mosquitto when installed);
* the management-core stub (``fwsim.core_stub``) recording the signed CloudEvents;
* a fresh SQLite database in a work directory, with the scenario's site loaded at ``start``
  (the readers' and binary terminals' URLs set to the simulated devices) and one API token per
  leader of the site;
* ``guard-gateway run`` as a subprocess (``GatewayProcess``), configured by environment, on a
  persistent MQTT session, so what terminals send while it is down waits for it in the broker;
* the simulators: GPS terminals (``ScenarioRunner``), checkpoint readers and clock-in terminals
  (``FieldRunner``), and the leaders' API actions and the gateway kills/restarts played here.

The clock (``fwsim.scenario.day_clock.DayClock``): accelerated ``rate`` x and shared with the
gateway through ``GATEWAY_TEST_CLOCK``; it stands still while a gateway process starts (the
first one, and each restart), so start-up takes no scenario time. Limits (in
``docs/scenarios.md``): whatever else takes wall time takes ``rate`` times as much scenario time
(an API call of 20 ms is 2.4 s at 120x), deadlines are checked every 0.1 wall seconds, and two
events closer than that may be seen in either order.

The check ends at ``end`` plus ``settle_s`` wall seconds (for the last deliveries); events the
gateway dates after ``end`` are not judged.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy.orm import Session

from drivers.mqtt.broker import start_broker
from fwsim.core_stub import CoreStub
from fwsim.scenario.day_clock import DayClock
from fwsim.scenario.day_spec import DayScenario
from fwsim.scenario.expect import Verdict, event_time, judge
from fwsim.scenario.field import FieldRunner
from fwsim.scenario.gateway_process import GatewayProcess
from fwsim.scenario.leader_api import ActionFailed, LeaderApi
from fwsim.scenario.runner import ScenarioRunner
from fwsim.wand import SimulatedWand
from gateway.api.tokens import Role, issue_token
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.site.loader import load_site_file

__all__ = ["CheckResult", "run_check"]

log = logging.getLogger(__name__)


@dataclass
class CheckResult:
    """What a check found: the verdicts (expectations, then unclaimed events), the actions'
    log lines and failures, every event delivered, and where the logs are."""

    verdicts: list[Verdict]
    events: list[dict[str, Any]]
    actions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    workdir: Path | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and all(v.passed for v in self.verdicts)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wire_devices(site: dict[str, Any], runner: FieldRunner | None) -> None:
    """Point the site's readers and binary clock-in terminals at the simulated ones."""
    if runner is None:
        return
    readers = {r.id for r in runner.scenario.readers}
    binary = {t.id for t in runner.scenario.terminals if t.kind == "zkteco_binary"}
    for entry in site.get("sites") or []:
        for device in entry.get("devices") or []:
            if device.get("id") in readers:
                device["url"] = runner.reader_url(device["id"])
            elif device.get("id") in binary:
                device["url"] = runner.terminal_url(device["id"])


def _prepare_database(scenario: DayScenario, site_path: Path, db_url: str) -> dict[str, str]:
    """Create the schema, load the site at ``start``; one leader token per leader."""
    engine = make_engine(db_url)
    try:
        create_schema(engine)
        load_site_file(site_path, engine, scenario.start)
        tokens: dict[str, str] = {}
        with Session(engine) as session, session.begin():
            for entry in scenario.site.get("sites") or []:
                for leader in entry.get("leaders") or []:
                    issued = issue_token(
                        session,
                        name=str(leader["id"]),
                        role=Role.LEADER,
                        now=scenario.start,
                        sites=(str(entry["id"]),),
                        teams=(str(leader["team"]),),
                    )
                    tokens[str(leader["id"])] = issued.token
        return tokens
    finally:
        engine.dispose()


def run_check(
    scenario: DayScenario,
    *,
    rate: float | None = None,
    workdir: Path | None = None,
) -> CheckResult:
    """Play ``scenario`` against a new gateway and judge the events it delivered."""
    rate = rate or scenario.rate
    work = workdir or Path(tempfile.mkdtemp(prefix="fwsim-check-"))
    work.mkdir(parents=True, exist_ok=True)
    core_secret = secrets.token_urlsafe(32)
    broker = start_broker()
    stub = CoreStub(core_secret)
    stub.start()
    gps: ScenarioRunner | None = None
    fld: FieldRunner | None = None
    gateway: GatewayProcess | None = None
    result = CheckResult([], [], workdir=work)
    try:
        clock = DayClock(scenario.start, rate)  # paused until the gateway serves
        if scenario.field is not None:
            fld = FieldRunner(scenario.field, clock, start=scenario.start)
            fld.open()
        site = dict(scenario.site)
        _wire_devices(site, fld)
        site_path = work / "site.yaml"
        site_path.write_text(yaml.safe_dump(site, allow_unicode=True, sort_keys=False), "utf-8")
        db_url = f"sqlite:///{work / 'gateway.db'}"
        tokens = _prepare_database(scenario, site_path, db_url)
        api_port = _free_port()
        env = {
            "GATEWAY_DATABASE_URL": db_url,
            "GATEWAY_MQTT_URL": broker.url,
            "GATEWAY_MQTT_CLIENT_ID": f"gateway-check-{uuid.uuid4().hex[:8]}",
            "GATEWAY_CORE_URL": stub.url,
            "GATEWAY_CORE_SECRET": core_secret,
            "GATEWAY_JT808_AUTH_SECRET": secrets.token_urlsafe(32),
            "GATEWAY_EVENT_SOURCE": f"urn:fwsim-check:{scenario.name}",
            "GATEWAY_API_PORT": str(api_port),
            "GATEWAY_DELIVERY_RETRY_INITIAL_S": "0.5",
        }
        starts = _GatewayStarts(clock, env, work / "gateway.log", work)
        gateway = starts.start()
        api_url = f"http://127.0.0.1:{api_port}"
        _warm_up(api_url, tokens)
        if scenario.gps is not None:  # connected while the clock still stands
            # A log-in answered in wall milliseconds is seconds of scenario time at this rate.
            gps = ScenarioRunner(
                scenario.gps, broker.url, clock, start=scenario.start, login_timeout_s=60
            )
            gps.connect()
        clock.resume(starts.waiting())
        if gps is not None:
            gps.start()
        if fld is not None:
            fld.api_url = api_url
            fld.start()
        wands = {
            wand_id: SimulatedWand(wand_id, scenario.zone, drift)
            for wand_id, drift in scenario.wands.items()
        }
        api = LeaderApi(api_url, tokens, wands=wands, now=clock.now)
        for action in scenario.actions:
            _sleep_until(clock, action.at)
            stamp = f"{clock.now().astimezone(scenario.zone):%H:%M:%S}"
            try:
                if action.kind == "gateway":
                    gateway = _gateway_action(action.args["do"], gateway, starts)
                    done = f"pid {gateway.pid}" if action.args["do"] == "restart" else "done"
                else:
                    done = api.perform(action)
                result.actions.append(f"{stamp} {action.describe()}: {done}")
            except ActionFailed as exc:
                result.failures.append(f"{stamp} {exc}")
        _sleep_until(clock, scenario.end)
        log.debug("the day is played; %.1f s for the last deliveries", scenario.settle_s)
        time.sleep(scenario.settle_s)
        for name, runner in (("GPS terminals", gps), ("field devices", fld)):
            if runner is not None and runner.error is not None:
                result.failures.append(f"{name} stopped on an error: {runner.error}")
    finally:
        log.debug("stopping the simulators")
        for runner in (gps, fld):
            if runner is not None:
                runner.stop()
        log.debug("stopping the gateway")
        if gateway is not None:
            gateway.stop()
        log.debug("stopping the core stub and the broker")
        stub.stop()
        broker.stop()
        log.debug("stopped")
    result.events = list(stub.events)
    judged = [e for e in result.events if (t := event_time(e)) is None or t <= scenario.end]
    result.verdicts = judge(scenario.expect, judged, no_other_alerts=scenario.no_other_alerts)
    if workdir is None and result.passed:
        shutil.rmtree(work, ignore_errors=True)
        result.workdir = None
    return result


def _warm_up(api_url: str, tokens: Mapping[str, str]) -> None:
    """One authenticated read before the day starts: the API's first request pays for lazy
    imports and connections, which would cost scenario time on the running clock."""
    for token in list(tokens.values())[:1]:
        headers = {"Authorization": f"Bearer {token}"}
        httpx.get(f"{api_url}/alerts?limit=1", headers=headers, timeout=30)


class _GatewayStarts:
    """Starts gateway processes on the paused clock, each with its own origin file."""

    def __init__(self, clock: DayClock, env: Mapping[str, str], log: Path, work: Path) -> None:
        self.clock, self.env, self.log, self.work = clock, dict(env), log, work
        self.count = 0
        self._waiting: list[Path] = []

    def start(self) -> GatewayProcess:
        """Pause the clock and start a gateway; it serves when this returns."""
        self.clock.pause()
        self.count += 1
        origin = self.work / f"clock-origin-{self.count}"
        gateway = GatewayProcess({**self.env, **self.clock.gateway_env(origin)}, self.log)
        self._waiting.append(origin)
        gateway.wait_serving()
        return gateway

    def waiting(self) -> list[Path]:
        """The origin files of gateways not yet told the clock runs (then forgotten)."""
        files, self._waiting = self._waiting, []
        return files


def _sleep_until(clock: DayClock, when: Any) -> None:
    while (ahead := (when - clock.now()).total_seconds()) > 0:
        time.sleep(min(ahead / clock.rate, 0.5))


def _gateway_action(do: str, gateway: GatewayProcess, starts: _GatewayStarts) -> GatewayProcess:
    """Kill, stop or restart the gateway; a restart takes no scenario time (the clock stands
    while the new process starts)."""
    if do == "kill":
        gateway.kill()
    elif do == "stop":
        gateway.stop()
    else:
        if gateway.process.poll() is None:
            raise ActionFailed("gateway restart: it is still running (kill or stop it first)")
        gateway = starts.start()
        starts.clock.resume(starts.waiting())
    return gateway
