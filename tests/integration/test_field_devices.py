"""Field devices: the scenario runner's simulated devices on real ptys and TCP, and the gateway's
own start-up of the readers a site file configures (``gateway.field_devices``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import serial
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from drivers.em4100 import Em4100Reader
from fwsim.scenario.field import FieldRunner, parse_field_scenario
from gateway.bootstrap import build_gateway
from gateway.clock import AcceleratedClock, ManualClock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.lifecycle import Gateway
from gateway.outbox.tables import OutboxRow
from gateway.settings import Settings
from gateway.site.loader import load_site_file

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 Asia/Shanghai
CARD = "0102B0A5FD"  # a guard's EM4100 card (tests/corpus/em4100/card_numbers.json, i-keys)


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def runner_for(timeline: list[dict[str, Any]], clock: Any, **devices: Any) -> FieldRunner:
    section = {
        "readers": devices.get("readers", [{"id": "em-1", "kind": "em4100"}]),
        "terminals": devices.get("terminals", []),
        "timeline": timeline,
    }
    return FieldRunner(parse_field_scenario({"field_devices": section}), clock, start=START)


def test_runner_sends_the_published_rdm6300_frame_for_a_scan(corpus: Path) -> None:
    golden = json.loads((corpus / "em4100" / "rdm6300_frames.json").read_text("utf-8"))["valid"][0]
    tag = golden["payload"][:10]
    clock = ManualClock(START)
    timeline = [{"at_s": 30, "scan": {"reader": "em-1", "tag": tag, "repeats": 3}}]
    with runner_for(timeline, clock) as runner:
        port = serial.serial_for_url(runner.reader_url("em-1"), baudrate=9600, timeout=0.5)
        try:
            assert runner.run_until(clock.now()) == 0  # not due yet
            clock.advance(30)
            assert runner.run_until(clock.now()) == 1
            frame = bytes.fromhex(golden["frame_hex"])
            assert port.read(len(frame) * 3) == frame * 3
        finally:
            port.close()
        stats = runner.stats()["em-1"]
        assert (stats.presentations, stats.frames, stats.failed) == (1, 3, 0)


def test_a_write_to_an_unplugged_reader_is_counted_as_failed_not_raised() -> None:
    clock = ManualClock(START)
    timeline = [
        {"at_s": 1, "unplug": {"reader": "em-1"}},
        {"at_s": 2, "scan": {"reader": "em-1", "tag": CARD}},
        {"at_s": 3, "replug": {"reader": "em-1"}},
    ]
    with runner_for(timeline, clock) as runner:
        path = runner.reader_url("em-1")
        assert runner.run_until(START + timedelta(seconds=3)) == 3
        stats = runner.stats()["em-1"]
        assert (stats.presentations, stats.failed) == (0, 1)
        assert Path(path).resolve().exists()  # the same path leads to the new pty


def test_background_run_on_an_accelerated_clock_punches_at_the_scenario_times() -> None:
    clock = AcceleratedClock(START, 600.0)  # ten minutes of scenario time per wall second
    timeline = [
        {"at_s": 60, "punch": {"terminal": "zk", "pin": "1002"}},
        {"at_min": 5, "punch": {"terminal": "zk", "pin": "1002", "kind": "break_out"}},
    ]
    runner = runner_for(
        timeline, clock, readers=[], terminals=[{"id": "zk", "kind": "zkteco_binary"}]
    )
    runner.start()
    try:
        assert runner.wait(5.0) and runner.error is None
        records = runner.binary_terminal("zk").records
        # Terminal local time (Asia/Shanghai) of START + 1 min and START + 5 min.
        assert [(r.pin, r.at, r.punch) for r in records] == [
            ("1002", datetime(2026, 3, 2, 8, 1), 0),
            ("1002", datetime(2026, 3, 2, 8, 5), 2),
        ]
    finally:
        runner.stop()


def site_file(tmp_path: Path, reader_url: str, punch_kind: str | None) -> Path:
    reader: dict[str, Any] = {
        "id": "em-gate",
        "kind": "em4100_reader",
        "post": "pt-gate",
        "url": reader_url,
        "variant": "rdm6300",
    }
    if punch_kind:
        reader["punch_kind"] = punch_kind
    site = {
        "id": "it-field",
        "name": "field devices",
        "posts": [
            {
                "id": "pt-gate",
                "name": "gate",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.3085, 30.5928], "radius_m": 30},
            }
        ],
        "guards": [{"id": "g-201", "name": "g-201", "pin": "2001", "cards": [CARD]}],
        "devices": [{"id": "gps-201", "kind": "gps", "guard": "g-201"}, reader],
        "shifts": [
            {"guard": "g-201", "post": "pt-gate", "days": "daily", "start": "08:00", "end": "20:00"}
        ],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"sites": [site]}), encoding="utf-8")
    return path


@pytest.fixture
def gateway_with_reader(
    db_url: str, tmp_path: Path
) -> Iterator[Callable[[str | None], tuple[Gateway, FieldRunner]]]:
    made: list[tuple[Gateway, FieldRunner]] = []

    def make(punch_kind: str | None) -> tuple[Gateway, FieldRunner]:
        clock = ManualClock(START)
        timeline = [{"at_s": 120, "scan": {"reader": "em-1", "tag": CARD, "repeats": 4}}]
        runner = runner_for(timeline, clock)
        runner.open()
        engine = make_engine(db_url)
        create_schema(engine)
        load_site_file(site_file(tmp_path, runner.reader_url("em-1"), punch_kind), engine, START)
        engine.dispose()
        gateway = build_gateway(Settings(database_url=db_url), clock, with_ingest=False)
        made.append((gateway, runner))
        gateway.start()
        return gateway, runner

    yield make
    for gateway, runner in made:
        gateway.stop()
        runner.stop()


def reader_of(gateway: Gateway) -> Em4100Reader:
    (reader,) = gateway.field_devices.running
    assert isinstance(reader, Em4100Reader)
    return reader


def outbox_types(gateway: Gateway) -> list[str]:
    with Session(gateway.engine) as session:
        return list(session.scalars(select(OutboxRow.type).order_by(OutboxRow.seq)))


def test_a_gate_card_reader_with_a_punch_kind_acts_as_a_clock_in_terminal(
    gateway_with_reader: Callable[[str | None], tuple[Gateway, FieldRunner]],
) -> None:
    gateway, runner = gateway_with_reader("check_in")
    counters = gateway.processor.counters
    assert wait_until(lambda: reader_of(gateway).stats.connected)
    assert isinstance(gateway.clock, ManualClock)
    gateway.clock.advance(120)
    assert runner.run_until() == 1
    assert wait_until(lambda: counters.get("punches.stored") == 1)
    assert gateway.runtime.wait_idle()
    # The reader stands at his post: the punch also places him there.
    assert outbox_types(gateway) == ["attendance.punch", "presence.arrived"]
    with Session(gateway.engine) as session:
        body = session.scalars(select(OutboxRow.body).where(OutboxRow.type == "attendance.punch"))
        data = json.loads(body.one())["data"]
    assert (data["person_id"], data["kind"], data["verify"]) == (CARD, "check_in", "card")
    assert data["terminal_id"] == "em-gate" and data["guard_id"] == "g-201"
    assert counters.get("scans.stored") == 0  # a punch, not a checkpoint scan


def test_stopping_the_gateway_does_not_report_its_readers_as_lost(
    gateway_with_reader: Callable[[str | None], tuple[Gateway, FieldRunner]],
) -> None:
    gateway, runner = gateway_with_reader(None)
    assert wait_until(lambda: reader_of(gateway).stats.connected)
    runner.em4100("em-1").unplug()  # a real loss is reported...
    assert wait_until(lambda: "alert.device_silent" in outbox_types(gateway))
    runner.em4100("em-1").replug()
    assert wait_until(lambda: "presence.device_resumed" in outbox_types(gateway))
    assert isinstance(gateway.clock, ManualClock)
    gateway.clock.advance(60)  # a later loss would be a new episode
    gateway.stop()  # ...closing the readers on purpose is not
    assert outbox_types(gateway) == ["alert.device_silent", "presence.device_resumed"]
