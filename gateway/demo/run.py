"""``guard-gateway demo``: the whole data path on one machine, on an accelerated clock.

Sample Wuhan site (posts drawn in GCJ-02), thirteen simulated guards whose fourteen GPS
terminals speak four wire formats over a real MQTT broker (the local one, or one started here;
one JT/T 808 badge logs in through the gateway's replies), an SQLite file, the API, a ZKTeco
clock-in terminal and EM4100 checkpoint readers, a management-core stub that verifies
signatures, and a robot stub standing in for team A's WeCom group and team B's leader's
DingTalk group. Every event is printed as the core receives it, and every group message as the
group shows it. The run succeeds when every kind of event in ``EXPECTED`` reached the core.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as dtime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from drivers.mqtt.broker import find_local_broker, start_broker
from fwsim.core_stub import CoreStub
from fwsim.em4100 import SimulatedEm4100Reader
from fwsim.robot_stub import RobotStub
from fwsim.scenario import ScenarioRunner, parse_scenario
from gateway.api.tokens import Role, issue_token
from gateway.bootstrap import ApiServer, build_gateway
from gateway.clock import Clock, SystemClock, utc
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.demo.cast import CAST, CHECKPOINTS, LEADERS
from gateway.demo.director import Director
from gateway.demo.printer import describe, describe_robot
from gateway.demo.roster import ROBOTS, robot_entries, roster_overlay, terminal_specs
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
    demo_start = shift_start - timedelta(minutes=2)
    clock = _DemoClock(demo_start, rate)

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
        jt808_auth_secret=SecretStr("demo-jt808-key"),
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
    loaded = load_site_file(site_path, engine, clock.now())
    operator_token, leader_tokens = _demo_tokens(engine, loaded.site_ids[0], clock.now())
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
        f"day shift starts {shift_start.astimezone(TZ):%H:%M}. Try: "
        f"curl -H 'Authorization: Bearer {operator_token}' {api_url}/whereabouts"
    )
    out(f"live page (在岗实况): open {api_url}/live and paste the token above")
    for actor in CAST:
        second = f" + {actor.second.format}, {actor.second.device_id}" if actor.second else ""
        shift = f", shift to {actor.shift_end}" if actor.shift_end != "20:00" else ""
        out(
            f"  {actor.guard_id} {actor.name} ({actor.format}, {actor.device_id}{second}) at "
            f"{actor.post_id}{shift}: {actor.story}"
        )
    out("")

    anchors = _anchors(gateway.processor, shift_start)
    terminals = [spec for a in CAST for spec in terminal_specs(a, anchors[a.guard_id])]
    scenario = parse_scenario({"name": "demo", "terminals": terminals})
    # The gateway answers a log-in within wall milliseconds, which the fast clock makes
    # seconds: give the badge's log-in a minute of demo time before it sends again.
    # The terminals' timelines count from the demo's start, as the director's actions do.
    runner = ScenarioRunner(scenario, broker, clock, start=demo_start, login_timeout_s=60)
    runner.connect()
    clock.go()
    runner.start()
    director = Director(api_url, leader_tokens, clock, shift_start, out, readers)
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


class _DemoClock:
    """The demo's clock: it stands at ``start`` while the demo sets up, then runs ``rate`` times
    faster than the wall from ``go()`` on, so the story begins on time however long the set-up
    took (at 120x a second of set-up would be two minutes of the story)."""

    def __init__(self, start: datetime, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._start = utc(start)
        self._rate = rate
        self._t0: float | None = None

    @property
    def rate(self) -> float:
        return self._rate

    def now(self) -> datetime:
        if self._t0 is None:
            return self._start
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self._rate)

    def go(self) -> None:
        """Start the clock running (once)."""
        if self._t0 is None:
            self._t0 = time.monotonic()


EXPECTED = (
    "presence.arrived",
    "presence.departed",
    "presence.returned",
    "presence.device_resumed",
    "alert.unreported_departure",
    "alert.overtime_departure",
    "alert.leave_overrun",
    "alert.leave_not_cancelled",
    "leave.cancelled",
    "alert.absent_at_shift_start",
    "alert.device_silent",
    "alert.sos",
    "alert.device_left_behind",
    "alert.left_early",
    "alert.withdrawn",
    "attendance.punch",
    "alert.late_clock_in",
    "attendance.unknown_person",
    "patrol.checkpoint_scanned",
    "alert.checkpoint_missed",
    "patrol.round_completed",
    "patrol.unknown_tag",
)
"""Every kind of event the demo's story produces; the run fails if one never reached the core."""


def _demo_tokens(engine: Engine, site_id: str, now: datetime) -> tuple[str, dict[str, str]]:
    """An admin token for whoever watches the demo, and a token per team leader scoped to his
    team, with which the director enters that leader's reports, leaves and cancellations."""
    with Session(engine) as session, session.begin():
        operator = issue_token(session, name="demo operator", role=Role.ADMIN, now=now)
        leaders = {
            leader: issue_token(
                session, name=leader, role=Role.LEADER, now=now, sites=(site_id,), teams=(team,)
            ).token
            for team, leader in LEADERS.items()
        }
    return operator.token, leaders


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
