"""A checkpoint reader losing its device raises alert.device_silent; its return resolves it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fwsim.em4100 import SimulatedEm4100Reader
from gateway.clock import ManualClock
from gateway.db.models import AlertRow
from gateway.field_devices import start_field_devices
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, SAMPLE_SITE


def _wait(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _events(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as s:
        rows = s.execute(select(OutboxRow.type, OutboxRow.subject).order_by(OutboxRow.seq))
        return [(t, subject) for t, subject in rows if subject == "em-1"]


def test_unplugged_reader_raises_device_silent_and_replug_resolves_it(
    engine: Engine, tmp_path: Path
) -> None:
    reader = SimulatedEm4100Reader(link_dir=tmp_path, link_name="ttyEM1")
    doc = yaml.safe_load(SAMPLE_SITE.read_text(encoding="utf-8"))
    doc["sites"][0]["devices"].append(
        {"id": "em-1", "kind": "em4100_reader", "post": "jt-patrol-central", "url": reader.url}
    )
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    clock = ManualClock(DAY_START + timedelta(minutes=30))
    load_site_file(site, engine, clock.now())
    runtime = PipelineRuntime(Processor(engine, clock), clock, lambda item: item)
    runtime.start()
    devices = start_field_devices(engine, clock, runtime)
    try:
        time.sleep(0.5)  # the reader opens the port
        reader.unplug()
        assert _wait(lambda: _events(engine) == [("alert.device_silent", "em-1")])
        clock.advance(60)
        reader.replug()
        assert _wait(
            lambda: (
                _events(engine)
                == [("alert.device_silent", "em-1"), ("presence.device_resumed", "em-1")]
            )
        )
        with Session(engine) as s:
            alert = s.scalars(select(AlertRow).where(AlertRow.guard_id == "em-1")).one()
        assert alert.type == "alert.device_silent"
        assert alert.status == "resolved"
    finally:
        devices.stop()
        runtime.stop()
        reader.close()
