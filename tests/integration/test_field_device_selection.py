"""``GATEWAY_FIELD_DEVICES``: a gateway opens only the readers it is given (processes on
several hosts each open the devices attached to theirs), through ``build_gateway`` and
``Gateway.start`` as ``guard-gateway run`` does, with EM4100 readers on real pseudo-terminals.
A reader a process opens holds its port's lock: another opener is refused. The gateway
processes of a host share readers through their peer locks (``drivers.peer_lock``): one owns a
reader, reads it and reports its losses, the others stand by; a reader held by a program that
is not a gateway process is lost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session

from drivers.em4100 import Em4100Reader
from drivers.peer_lock import PeerLock, Take
from drivers.serial.transport import SerialConfig, open_serial
from fwsim.em4100.reader import SimulatedEm4100Reader
from gateway.bootstrap import ApiServer, build_gateway
from gateway.clock import ManualClock
from gateway.db.models import AlertRow
from gateway.errors import DeviceHeldElsewhere
from gateway.field_devices import reader_lock_path
from gateway.lifecycle import Gateway
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


class OtherGatewayProcess:
    """What another gateway process of the host does to a reader it owns: it takes the reader's
    peer lock in the shared lock directory, then opens the port; ``close`` lets both go."""

    def __init__(self, path: str, lock_dir: Path) -> None:
        self._peer_lock = PeerLock(reader_lock_path(path, lock_dir))
        assert self._peer_lock.try_take() is Take.OWNED
        self._port = open_serial(SerialConfig(path))

    def close(self) -> None:
        self._port.close()
        self._peer_lock.release()


def test_metrics_say_which_readers_this_process_reads(db_url: str, tmp_path: Path) -> None:
    """em-b is owned by another gateway process of the host before the gateway starts: the
    gateway reads em-a and stands by for em-b, and its ``/metrics`` say so (``standby``, not
    ``opening``: em-b is not missing); the other process lets go and the gateway takes em-b;
    em-a's device is unplugged and it shows as lost."""
    readers = [
        SimulatedEm4100Reader(link_dir=tmp_path, link_name=name) for name in ("ttyA", "ttyB")
    ]
    path_a, path_b = (reader.url for reader in readers)
    lock_dir = tmp_path / "locks"
    other_holder = OtherGatewayProcess(path_b, lock_dir)
    clock = ManualClock(DAY_START)
    settings = Settings(database_url=db_url, lock_dir=lock_dir)  # GATEWAY_LOCK_DIR
    gateway = build_gateway(settings, clock, with_ingest=False)
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


def test_two_gateways_sharing_a_reader_raise_one_alert_for_its_loss(
    db_url: str, tmp_path: Path
) -> None:
    """Two gateway processes of a host (built and started as ``guard-gateway run`` does: one
    database, one lock directory, one site file) find the same reader. The first owns it; the
    second stands by. The device is unplugged: one ``alert.device_silent``, the owner's, while
    the second keeps standing by however often it tries. The owner stops with the device still
    missing: the second takes the reader over, finds it missing and the alert already open (no
    second alert). The device comes back: the second reads it and resolves the first's alert."""
    reader = SimulatedEm4100Reader(link_dir=tmp_path, link_name="ttyA")
    clock = ManualClock(DAY_START)
    settings = Settings(database_url=db_url, lock_dir=tmp_path / "locks")
    first = build_gateway(settings, clock, with_ingest=False)
    load_site_file(two_reader_site(tmp_path, {"em-a": reader.url}), first.engine, DAY_START)
    second = build_gateway(settings, clock, with_ingest=False)
    first_states, second_states = (
        first.field_devices.reader_states,
        second.field_devices.reader_states,
    )
    first.start()
    try:
        wait_for(lambda: first_states().get("em-a") == "reading", "em-a read by the first", 10.0)
        second.start()
        wait_for(lambda: second_states().get("em-a") == "standby", "the second standing by", 10.0)
        reader.unplug()
        wait_for(lambda: reader_alerts(first) == [("open", None)], "em-a's alert", 10.0)
        assert first_states()["em-a"] == "lost"
        (standing_by,) = second.field_devices.running
        assert isinstance(standing_by, Em4100Reader)
        failures = standing_by.stats.open_failures
        wait_for(
            lambda: standing_by.stats.open_failures >= failures + 2, "the second's tries", 20.0
        )
        assert second_states()["em-a"] == "standby"
        assert reader_alerts(first) == [("open", None)]

        clock.advance(120.0)  # a loss reported now would be a new episode, with a key of its own
        first.stop()  # its process ends; the device is still missing
        wait_for(lambda: second_states().get("em-a") == "lost", "the second's takeover", 30.0)
        failures = standing_by.stats.open_failures  # the report is done before the next try
        wait_for(lambda: standing_by.stats.open_failures > failures, "its next try", 10.0)
        assert reader_alerts(second) == [("open", None)]  # the first's alert, not a second one
        reader.replug()
        wait_for(lambda: second_states().get("em-a") == "reading", "em-a read again", 15.0)
        wait_for(
            lambda: reader_alerts(second) == [("resolved", "ended")],
            lambda: f"em-a's alert: {reader_alerts(second)}",
            10.0,
        )
        assert reader_outbox(second) == ["alert.device_silent", "presence.device_resumed"]
    finally:
        second.stop()
        first.stop()
        reader.close()


def test_a_reader_held_by_a_program_that_is_not_a_gateway_is_reported_lost(
    db_url: str, tmp_path: Path
) -> None:
    """A program that takes the reader's port (not a gateway process: no peer lock) before the
    gateway starts: nobody reads the reader, so the gateway reports it lost, with why; the
    program lets go: the gateway reads the reader and resolves the alert."""
    reader = SimulatedEm4100Reader(link_dir=tmp_path, link_name="ttyA")
    program = open_serial(SerialConfig(reader.url))
    clock = ManualClock(DAY_START)
    settings = Settings(database_url=db_url, lock_dir=tmp_path / "locks")
    gateway = build_gateway(settings, clock, with_ingest=False)
    load_site_file(two_reader_site(tmp_path, {"em-a": reader.url}), gateway.engine, DAY_START)
    states = gateway.field_devices.reader_states
    gateway.start()
    try:
        wait_for(lambda: reader_alerts(gateway) == [("open", None)], "em-a's alert", 10.0)
        assert states()["em-a"] == "lost"
        with Session(gateway.engine) as session:
            alert = session.scalars(select(AlertRow).where(AlertRow.guard_id == "em-a")).one()
            assert "held by a program that is not a gateway process" in alert.data["reason"]
        program.close()
        wait_for(lambda: states().get("em-a") == "reading", "em-a read", 15.0)
        wait_for(
            lambda: reader_alerts(gateway) == [("resolved", "ended")],
            lambda: f"em-a's alert: {reader_alerts(gateway)}",
            10.0,
        )
        assert reader_outbox(gateway) == ["alert.device_silent", "presence.device_resumed"]
    finally:
        gateway.stop()
        program.close()
        reader.close()


def reader_outbox(gateway: Gateway) -> list[str]:
    """The types of the events about em-a in the outbox, in order."""
    with Session(gateway.engine) as session:
        return list(
            session.scalars(
                select(OutboxRow.type).where(OutboxRow.subject == "em-a").order_by(OutboxRow.seq)
            )
        )


def reader_alerts(gateway: Gateway) -> list[tuple[str, str | None]]:
    with Session(gateway.engine) as session:
        rows = session.execute(
            select(AlertRow.status, AlertRow.resolution).where(AlertRow.guard_id == "em-a")
        )
        return [(status, resolution) for status, resolution in rows]
