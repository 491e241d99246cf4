"""``GATEWAY_FIELD_DEVICES``: a gateway opens only the readers it is given (processes on
several hosts each open the devices attached to theirs), through ``build_gateway`` and
``Gateway.start`` as ``guard-gateway run`` does, with two EM4100 readers on real
pseudo-terminals. A reader a process opens holds its port's lock: another opener is refused."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session

from drivers.em4100 import Em4100Reader
from drivers.serial.transport import SerialConfig, open_serial
from fwsim.em4100.reader import SimulatedEm4100Reader
from gateway.bootstrap import ApiServer, Gateway, build_gateway
from gateway.clock import ManualClock
from gateway.db.models import AlertRow
from gateway.errors import DeviceHeldElsewhere
from gateway.outbox.tables import OutboxRow
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START
from tests.fixtures.live_gateway import wait_for


def two_reader_site(tmp_path: Path, urls: dict[str, str]) -> Path:
    site = {
        "id": "two-readers",
        "name": "two readers",
        "timezone": "Asia/Shanghai",
        "posts": [
            {
                "id": "pt-gate",
                "name": "gate",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.3085, 30.5928], "radius_m": 30},
            }
        ],
        "devices": [
            {"id": device, "kind": "em4100_reader", "post": "pt-gate", "url": url}
            for device, url in urls.items()
        ],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"sites": [site]}, sort_keys=False), encoding="utf-8")
    return path


def held(path: str) -> bool:
    """Whether another opener holds the port (this probe opens and closes it when free)."""
    try:
        open_serial(SerialConfig(path)).close()
    except DeviceHeldElsewhere:
        return True
    return False


@contextmanager
def gateway_opening(
    db_url: str, tmp_path: Path, only: list[str] | None
) -> Iterator[tuple[Gateway, list[str]]]:
    """Two readers in the site file, em-a and em-b; a started gateway with
    ``field_devices=only``; yields it and the two readers' paths."""
    readers = [
        SimulatedEm4100Reader(link_dir=tmp_path, link_name=name) for name in ("ttyA", "ttyB")
    ]
    paths = [reader.url for reader in readers]
    clock = ManualClock(DAY_START)
    settings = Settings(database_url=db_url, field_devices=only)
    gateway = build_gateway(settings, clock, with_ingest=False)
    site = two_reader_site(tmp_path, dict(zip(["em-a", "em-b"], paths, strict=True)))
    load_site_file(site, gateway.engine, DAY_START)
    gateway.start()
    try:
        yield gateway, paths
    finally:
        gateway.stop()
        for reader in readers:
            reader.close()


@pytest.mark.parametrize(
    ("only", "expected"),
    [(None, [True, True]), (["em-a", "em-gone"], [True, False]), ([], [False, False])],
    ids=["default-every-reader", "one-named", "none"],
)
def test_a_gateway_opens_the_readers_it_is_given(
    db_url: str, tmp_path: Path, only: list[str] | None, expected: list[bool]
) -> None:
    with gateway_opening(db_url, tmp_path, only) as (gateway, paths):
        assert len(gateway.field_devices.running) == sum(expected)  # no driver for the others
        for path, opened in zip(paths, expected, strict=True):
            if opened:  # its reader thread opens it: then the port is locked
                wait_for(lambda path=path: held(path), f"{path} not opened", 10.0)
            else:
                assert not held(path)


def reader_states(url: str) -> dict[str, str]:
    """``/metrics``' ``guard_gateway_reader_state``: reader → the one state set to 1."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    states: dict[str, list[str]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "guard_gateway_reader_state" and sample.value == 1:
                states.setdefault(sample.labels["reader"], []).append(sample.labels["state"])
    assert all(len(held) == 1 for held in states.values()), states  # one state per reader
    return {reader: held[0] for reader, held in states.items()}


def test_metrics_say_which_readers_this_process_reads(db_url: str, tmp_path: Path) -> None:
    """em-b's port is held by another opener (another process of the host, as far as the
    gateway can tell) before the gateway starts: the gateway reads em-a and stands by for
    em-b, and its ``/metrics`` say so (``standby``, not ``opening``: em-b is not missing); the
    holder lets go and the gateway takes em-b; em-a's device is unplugged and it shows as
    lost."""
    readers = [
        SimulatedEm4100Reader(link_dir=tmp_path, link_name=name) for name in ("ttyA", "ttyB")
    ]
    path_a, path_b = (reader.url for reader in readers)
    other_holder = open_serial(SerialConfig(path_b))
    clock = ManualClock(DAY_START)
    gateway = build_gateway(Settings(database_url=db_url), clock, with_ingest=False)
    load_site_file(
        two_reader_site(tmp_path, {"em-a": path_a, "em-b": path_b}), gateway.engine, DAY_START
    )
    api = ApiServer(gateway.app)
    gateway.start()
    try:
        url = api.start()
        wait_for(lambda: reader_states(url).get("em-a") == "reading", "em-a read", 10.0)
        wait_for(lambda: reader_states(url).get("em-b") == "standby", "em-b standing by", 10.0)
        assert reader_states(url) == {"em-a": "reading", "em-b": "standby"}
        other_holder.close()
        wait_for(lambda: reader_states(url).get("em-b") == "reading", "em-b taken over", 15.0)
        readers[0].unplug()
        wait_for(lambda: reader_states(url).get("em-a") == "lost", "em-a lost", 10.0)
        assert reader_states(url) == {"em-a": "lost", "em-b": "reading"}
    finally:
        api.stop()
        gateway.stop()
        other_holder.close()
        for reader in readers:
            reader.close()


def test_a_reader_lost_here_and_read_by_another_process_since_has_its_alert_resolved(
    db_url: str, tmp_path: Path
) -> None:
    """em-a's device goes away (the gateway raises ``alert.device_silent``); when it comes back,
    another opener (another process of the host) takes it before the gateway's next try: the
    gateway stands by, and the reader, read elsewhere, is no longer reported lost."""
    reader = SimulatedEm4100Reader(link_dir=tmp_path, link_name="ttyA")
    clock = ManualClock(DAY_START)
    gateway = build_gateway(Settings(database_url=db_url), clock, with_ingest=False)
    load_site_file(two_reader_site(tmp_path, {"em-a": reader.url}), gateway.engine, DAY_START)
    other_holder: Any = None
    gateway.start()
    try:
        states = gateway.field_devices.reader_states
        wait_for(lambda: states().get("em-a") == "reading", "em-a read", 10.0)
        reader.unplug()
        wait_for(lambda: reader_alerts(gateway) == [("open", None)], "em-a's alert", 10.0)
        # The other opener must get the device first: plug it in just after a failed try of
        # the gateway's reader, when its back-off (0.1 s doubling) is at least 0.8 s.
        (em_a,) = gateway.field_devices.running
        assert isinstance(em_a, Em4100Reader)
        wait_for(lambda: em_a.stats.open_failures >= 3, "em-a's retries", 10.0)
        failures = em_a.stats.open_failures
        wait_for(
            lambda: em_a.stats.open_failures > failures, "em-a's next retry", 10.0, every_s=0.001
        )
        reader.replug()
        other_holder = open_serial(SerialConfig(reader.url))
        wait_for(lambda: states().get("em-a") == "standby", "em-a standing by", 15.0)
        wait_for(
            lambda: reader_alerts(gateway) == [("resolved", "ended")],
            lambda: f"em-a's alert: {reader_alerts(gateway)}",
            10.0,
        )
        with Session(gateway.engine) as session:
            kinds = list(
                session.scalars(
                    select(OutboxRow.type)
                    .where(OutboxRow.subject == "em-a")
                    .order_by(OutboxRow.seq)
                )
            )
        assert kinds == ["alert.device_silent", "presence.device_resumed"]
    finally:
        gateway.stop()
        if other_holder is not None:
            other_holder.close()
        reader.close()


def reader_alerts(gateway: Gateway) -> list[tuple[str, str | None]]:
    with Session(gateway.engine) as session:
        rows = session.execute(
            select(AlertRow.status, AlertRow.resolution).where(AlertRow.guard_id == "em-a")
        )
        return [(status, resolution) for status, resolution in rows]
