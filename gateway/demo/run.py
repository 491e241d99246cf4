"""``guard-gateway demo``: the whole data path on one machine, on an accelerated clock.

Sample Wuhan site (posts drawn in GCJ-02), ten simulated GPS terminals speaking four wire
formats over a real MQTT broker (the local one, or one started here), an SQLite file, the API,
a management-core stub that verifies signatures, and a robot stub standing in for team A's WeCom
group and team B's leader's DingTalk group. Every event is printed as the core receives it, and
every group message as the group shows it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as dtime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import yaml
from pydantic import SecretStr

from drivers.mqtt.broker import find_local_broker, start_broker
from fwsim.core_stub import CoreStub
from fwsim.em4100 import SimulatedEm4100Reader
from fwsim.robot_stub import RobotStub
from fwsim.scenario import ScenarioRunner, parse_scenario
from fwsim.zkteco.push_terminal import PushTerminal
from gateway.bootstrap import ApiServer, build_gateway
from gateway.clock import AcceleratedClock, Clock, SystemClock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.demo.cast import (
    CAST,
    CHECKPOINTS,
    CLOCK_IN_SERIAL,
    PATROL_ACTIONS,
    PINS,
    PUNCH_ACTIONS,
    ROBOTS,
    Action,
    leader_of,
    robot_entries,
    roster_overlay,
    terminal_spec,
)
from gateway.demo.printer import describe, describe_robot
from gateway.settings import Settings
from gateway.site.loader import load_site_file

__all__ = ["run_demo"]

TZ = ZoneInfo("Asia/Shanghai")
SECRET = "demo-secret"
LOCAL_BROKER = "mqtt://127.0.0.1:1883"


def run_demo(
    *,
    rate: float,
    minutes: float,
    broker: str | None,
    data_dir: Path,
    out: Callable[[str], None] = print,
) -> int:
    """Run the demo for ``minutes`` of simulated time; returns 0 when every expected kind of
    event reached the core stub and the groups got at least one message, 1 otherwise."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db_path = data_dir / "demo.db"
    for leftover in data_dir.glob("demo.db*"):
        leftover.unlink()
    shift_start = _today_at(SystemClock().now(), dtime(8, 0))
    clock = AcceleratedClock(shift_start - timedelta(minutes=2), rate=rate)

    running_broker = None
    if broker is None:
        if find_local_broker(LOCAL_BROKER):
            broker = LOCAL_BROKER
        else:
            running_broker = start_broker()
            broker = running_broker.url
    stub = CoreStub(SECRET)
    core_url = stub.start()
    # The robots sign with the demo's clock, so the stub judges their timestamps on it too.
    robots = _robot_stub(clock)
    secrets = {name: SecretStr(v) for robot in ROBOTS for name, v in robot.secrets.items()}
    settings = Settings(
        database_url=f"sqlite:///{db_path}",
        mqtt_url=broker,
        mqtt_client_id="guard-gateway-demo",
        core_url=core_url,
        core_secret=SecretStr(SECRET),
        event_source="urn:guard-gateway:demo",
        delivery_retry_initial_s=1.0,
        robot_secrets=secrets,
    )
    readers = [
        SimulatedEm4100Reader("rdm6300", link_dir=data_dir, link_name=f"ttyEM{i}")
        for i in range(len(CHECKPOINTS))
    ]
    site_path = _write_site(
        data_dir, [r.url for r in readers], robot_entries(robots.wecom_url, robots.dingtalk_url)
    )
    engine = make_engine(settings.database_url)
    create_schema(engine)
    load_site_file(site_path, engine, clock.now())
    engine.dispose()

    gateway = build_gateway(settings, clock)
    gateway.start()
    api = ApiServer(gateway.app)
    api_url = api.start()
    out(
        f"guard-gateway demo: broker {broker}"
        f"{' (started here: ' + running_broker.kind + ')' if running_broker else ''}, "
        f"database {db_path}, API {api_url}, core stub {core_url}, robot stub {robots.base_url}"
    )
    out(
        f"clock: {rate:g}x, from {clock.now().astimezone(TZ):%Y-%m-%d %H:%M} Asia/Shanghai; "
        f"day shift starts {shift_start.astimezone(TZ):%H:%M}. Try: curl {api_url}/whereabouts"
    )
    for actor in CAST:
        out(
            f"  {actor.guard_id} {actor.name} ({actor.format}, {actor.device_id}) at "
            f"{actor.post_id}: {actor.story}"
        )
    out("")

    anchors = _anchors(gateway.processor, shift_start)
    scenario = parse_scenario(
        {"name": "demo", "terminals": [terminal_spec(a, anchors[a.guard_id]) for a in CAST]}
    )
    runner = ScenarioRunner(scenario, broker, clock, start=clock.now())
    runner.connect()
    runner.start()
    director = _Director(api_url, clock, shift_start, out, readers)
    director.start()
    seen: list[str] = []
    shown = 0
    end = clock.now() + timedelta(minutes=minutes)
    try:
        while clock.now() < end:
            events = stub.events
            for event in events[len(seen) :]:
                seen.append(str(event["type"]))
                out(describe(event, TZ))
            shown = _show_robot_messages(robots, shown, out)
            time.sleep(0.2)
    except KeyboardInterrupt:
        out("interrupted")
    finally:
        director.stop()
        runner.stop()
        gateway.runtime.wait_idle()
        time.sleep(0.5)
        api.stop()
        gateway.stop()
        for event in stub.events[len(seen) :]:
            seen.append(str(event["type"]))
            out(describe(event, TZ))
        _show_robot_messages(robots, shown, out)
        stub.stop()
        robots.stop()
        for reader in readers:
            reader.close()
        if running_broker is not None:
            running_broker.stop()
    return _summary(seen, stub, robots, gateway.processor.counters.snapshot(), out)


EXPECTED = (
    "presence.departed",
    "alert.unreported_departure",
    "alert.overtime_departure",
    "presence.returned",
    "alert.leave_not_cancelled",
    "alert.device_silent",
    "attendance.punch",
    "alert.late_clock_in",
    "patrol.checkpoint_scanned",
    "alert.checkpoint_missed",
    "patrol.round_completed",
)


def _robot_stub(clock: Clock) -> RobotStub:
    robots = RobotStub(clock=clock)
    for robot in ROBOTS:
        entry, secrets = robot.entry, robot.secrets
        if entry["kind"] == "wecom":
            robots.add_wecom(secrets[entry["webhook_ref"]], entry["name"])
        else:
            signing = secrets[entry["secret_ref"]] if entry.get("secret_ref") else None
            robots.add_dingtalk(secrets[entry["webhook_ref"]], entry["name"], signing)
    robots.start()
    return robots


def _show_robot_messages(robots: RobotStub, shown: int, out: Callable[[str], None]) -> int:
    """Print the group messages after the first ``shown``; returns how many are shown now."""
    messages = robots.messages
    for message in messages[shown:]:
        for line in describe_robot(message.label, message.plain_lines()):
            out(line)
    return len(messages)


def _summary(
    seen: list[str],
    stub: CoreStub,
    robots: RobotStub,
    counters: dict[str, int],
    out: Callable[[str], None],
) -> int:
    out("")
    out(
        f"core stub received {len(stub.events)} events "
        f"({len(stub.duplicates)} duplicate deliveries, {stub.rejected} bad signatures)"
    )
    messages = robots.messages
    digests = sum(1 for m in messages if len(m.refs) > 1)
    groups = ", ".join(
        f"{label} {sum(1 for m in messages if m.label == label)}"
        for label in dict.fromkeys(m.label for m in messages)
    )
    out(
        f"group robots received {len(messages)} messages ({groups or 'none'}; {digests} digests, "
        f"{len(robots.duplicates)} repeats, {len(robots.refused)} refused)"
    )
    out("by type: " + ", ".join(f"{t} {seen.count(t)}" for t in sorted(set(seen))))
    shown = {k: v for k, v in counters.items() if not k.startswith("events.")}
    out("pipeline: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    missing = [t for t in EXPECTED if t not in seen]
    if not messages:
        missing.append("group robot messages")
    if missing:
        out("missing: " + ", ".join(missing))
        return 1
    return 0


def _today_at(now: datetime, at: dtime) -> datetime:
    local = now.astimezone(TZ)
    return datetime.combine(local.date(), at, tzinfo=TZ)


def _write_site(data_dir: Path, reader_urls: list[str], robots: list[dict[str, Any]]) -> Path:
    sample = resources.files("gateway.samples").joinpath("wuhan-site.yaml").read_text("utf-8")
    doc = roster_overlay(yaml.safe_load(sample), reader_urls, robots)
    path = data_dir / "demo-site.yaml"
    path.write_text(
        "# Generated by 'guard-gateway demo': the sample site with the demo's day shift.\n"
        + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return path


def _anchors(processor: Any, shift_start: datetime) -> dict[str, dict[str, float]]:
    at = shift_start + timedelta(minutes=1)
    anchors = {}
    for actor in CAST:
        duty = processor.duties.duty_for_guard(actor.guard_id, at)
        if duty is None:
            raise RuntimeError(f"demo roster: {actor.guard_id} is not on duty at {at}")
        centre = duty.fence.wgs84.centroid
        anchors[actor.guard_id] = {"lat": centre.y, "lon": centre.x}
    return anchors


class _Director(threading.Thread):
    """Enters the leaders' side of the story through the API at the scripted times."""

    def __init__(
        self,
        api_url: str,
        clock: Clock,
        shift_start: datetime,
        out: Callable[[str], None],
        readers: list[SimulatedEm4100Reader],
    ) -> None:
        super().__init__(name="demo-director", daemon=True)
        self._client = httpx.Client(base_url=api_url, timeout=10)
        self._terminal = PushTerminal(api_url, CLOCK_IN_SERIAL)
        self._readers = readers
        self._clock = clock
        self._start = shift_start
        self._out = out
        self._halt = threading.Event()
        self._leaves: dict[str, str] = {}

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
        self._client.close()
        self._terminal.close()

    def run(self) -> None:
        scripted = [(action, actor.guard_id) for actor in CAST for action in actor.actions]
        scripted += [(action, "g-004") for action in PATROL_ACTIONS]
        scripted += [(action, "") for action in PUNCH_ACTIONS]
        plan = sorted(scripted, key=lambda pair: pair[0].at_min)
        try:
            self._terminal.handshake()
        except httpx.HTTPError as exc:
            self._out(f"director: clock-in terminal handshake failed: {exc}")
        for action, guard_id in plan:
            if not self._sleep_until(self._start + timedelta(minutes=action.at_min)):
                return
            try:
                self._act(action, guard_id)
            except httpx.HTTPError as exc:
                self._out(f"director: {action.kind} for {guard_id} failed: {exc}")

    def _sleep_until(self, when: datetime) -> bool:
        while not self._halt.is_set():
            remaining = (when - self._clock.now()).total_seconds()
            if remaining <= 0:
                return True
            self._halt.wait(min(0.5, remaining / self._clock.rate))
        return False

    def _at(self, minutes: float) -> str:
        return (self._start + timedelta(minutes=minutes)).isoformat()

    def _act(self, action: Action, guard_id: str) -> None:
        now_local = self._clock.now().astimezone(TZ)
        p = action.params
        if action.kind == "report":
            body = {
                "guard_id": guard_id,
                "expected_return_at": self._at(action.at_min + p["minutes"]),
                "destination": p.get("destination"),
                "reported_to": leader_of(guard_id),
            }
            self._client.post("/reports", json=body).raise_for_status()
            what = f"leader enters a verbal report (报备) by {guard_id}: back in {p['minutes']} min"
        elif action.kind == "leave":
            body = {
                "guard_id": guard_id,
                "starts_at": self._at(p["start_min"]),
                "ends_at": self._at(p["end_min"]),
                "approved_by": leader_of(guard_id),
                "reason": p.get("reason"),
            }
            reply = self._client.post("/leaves", json=body)
            reply.raise_for_status()
            self._leaves[guard_id] = reply.json()["id"]
            what = (
                f"leave approved for {guard_id}: "
                f"{p['end_min'] - p['start_min']:g} min from {self._at(p['start_min'])[11:16]}"
            )
        elif action.kind == "cancel":
            leave_id = self._leaves[p["of"]]
            self._client.post(f"/leaves/{leave_id}/cancel", json={}).raise_for_status()
            what = f"leader enters: {guard_id} cancels his leave (销假)"
        elif action.kind == "scan":
            _cp_id, name, tag = CHECKPOINTS[p["checkpoint"]]
            self._readers[p["checkpoint"]].send(tag)
            what = f"{guard_id} holds his tag reader to checkpoint {name}"
        else:
            pins = [PINS[g] for g in p.get("guards", ())] or [p["pin"]]
            for pin in pins:
                self._terminal.punch(pin, now_local.replace(tzinfo=None), status=0, verify=1)
            acknowledged = self._terminal.push()
            what = f"clock-in terminal pushes {len(pins)} check-in(s), {acknowledged} acknowledged"
        self._out(f"{now_local:%H:%M:%S}  ·· {what}")
