"""The binary-protocol client over real UDP datagrams on 127.0.0.1: against the published pyzk
UDP exchange, against the simulated terminal (``transport="udp"``), and through the gateway."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from drivers.zkteco.semantics import record_key
from drivers.zkteco.udp import ZkUdpClient
from fwsim.zkteco.binary_terminal import BinaryTerminal, LogRecord
from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.patrol_models import PunchRow
from gateway.db.schema import create_schema
from gateway.host_lock import HostExclusive
from gateway.outbox.tables import OutboxRow
from gateway.records import PunchKind, VerifyMode
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.fixtures.zkteco import Punches, attendance_log, wait_until

NOW = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)
CMD_DATA, CMD_READ_BUFFER, CMD_ACK_OK, CMD_GET_TIME = 1501, 1504, 2000, 201


def _bigattendance_log(n: int) -> list[LogRecord]:
    return [LogRecord(str(i), datetime(2026, 3, 1, 8, i // 60, i % 60), 0, 1) for i in range(n)]


def _client(port: int, punches: Punches, **kwargs: Any) -> ZkUdpClient:
    settings: dict[str, Any] = {
        "timeout_s": 0.5,
        "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.5,
        "keepalive_s": 0.1,
    }
    settings.update(kwargs)
    return ZkUdpClient(
        "127.0.0.1",
        port,
        terminal_id="gate-u",
        clock=ManualClock(NOW),
        on_punch=punches,
        **settings,
    )


@pytest.fixture
def terminal() -> Iterator[BinaryTerminal]:
    with BinaryTerminal(records=attendance_log(5), transport="udp") as sim:
        yield sim


def test_client_speaks_the_published_udp_connect_exchange(corpus: Path, punches: Punches) -> None:
    samples = json.loads((corpus / "attendance_samples.json").read_text("utf-8"))["pyzk_packets"]
    udp = [s for s in samples if s["test"] == "test_udp_connect"]
    connect, accepted = bytes.fromhex(udp[0]["hex"]), bytes.fromhex(udp[1]["hex"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device:
        device.bind(("127.0.0.1", 0))
        device.settimeout(5.0)
        with _client(device.getsockname()[1], punches):
            first, peer = device.recvfrom(2048)
            device.sendto(accepted, peer)
            second, _ = device.recvfrom(2048)
    assert first == connect  # one bare packet, no TCP prefix
    command, _chk, session, reply = struct.unpack("<4H", second[:8])
    # The next request runs in the session the terminal assigned (0xfb2f), reply number 1: its
    # time, which the log's records are dated by.
    assert (command, session, reply) == (CMD_GET_TIME, 0xFB2F, 1)


def test_client_reads_the_whole_log_over_udp_as_punches_in_utc(
    terminal: BinaryTerminal, punches: Punches
) -> None:
    with _client(terminal.port, punches) as client:
        got = punches.wait_for(5)
        wait_until(lambda: terminal.live_connections == 1)
        assert client.connected
    assert [p.person_id for p in got] == ["1", "2", "3", "4", "5"]
    assert [p.kind for p in got[:3]] == [
        PunchKind.CHECK_IN,
        PunchKind.CHECK_OUT,
        PunchKind.BREAK_OUT,
    ]
    assert [p.verify for p in got[:3]] == [VerifyMode.FINGERPRINT, VerifyMode.CARD, VerifyMode.FACE]
    assert got[0].punched_at == datetime(2026, 3, 1, 23, 50, tzinfo=UTC)  # 07:50 in Shanghai
    assert got[0].source_format == "zkteco_binary"
    assert len(bytes.fromhex(got[0].raw)) == 40


def test_a_log_spread_over_many_datagrams_is_read_whole(punches: Punches) -> None:
    # 700 records x 40 bytes: two 16 KiB buffer reads, each ~16 data datagrams of 1024 bytes.
    sim = BinaryTerminal(records=_bigattendance_log(700), transport="udp", data_packet_size=1024)
    with sim, _client(sim.port, punches):
        got = punches.wait_for(700)
    assert len({record_key(p) for p in got}) == 700
    assert sim.commands.count(CMD_READ_BUFFER) == 2


def test_a_lost_data_datagram_is_recovered_by_reading_the_chunk_again(punches: Punches) -> None:
    sim = BinaryTerminal(records=_bigattendance_log(700), transport="udp", data_packet_size=1024)
    sim.lose(CMD_DATA, 1)
    with sim, _client(sim.port, punches) as client:
        got = punches.wait_for(700)
        stats = client.stats
    assert [p.person_id for p in got] == [str(i) for i in range(700)]
    assert sim.commands.count(CMD_READ_BUFFER) == 3  # the first chunk was asked for twice
    assert (stats.connects, stats.failures) == (1, 0)


def test_an_unanswered_request_is_sent_again_within_the_session(punches: Punches) -> None:
    sim = BinaryTerminal(records=attendance_log(2), transport="udp")
    sim.lose(CMD_ACK_OK, 1)  # the answer to the first CMD_CONNECT never arrives
    with sim, _client(sim.port, punches) as client:
        punches.wait_for(2)
        stats = client.stats
    assert sim.connects == 2
    assert (stats.connects, stats.failures) == (1, 0)


def test_a_punch_arrives_as_a_live_datagram_and_is_acknowledged(
    terminal: BinaryTerminal, punches: Punches
) -> None:
    with _client(terminal.port, punches, keepalive_s=30.0) as client:
        punches.wait_for(5)
        wait_until(lambda: terminal.live_connections == 1)
        acks_before = terminal.commands.count(CMD_ACK_OK)
        terminal.punch("42", 2, 15, datetime(2026, 3, 2, 10, 15, 30))
        got = punches.wait_for(6)
        wait_until(lambda: client.stats.events == 1)
        wait_until(lambda: terminal.commands.count(CMD_ACK_OK) == acks_before + 1)
    live = got[-1]
    assert (live.person_id, live.kind, live.verify) == ("42", PunchKind.BREAK_OUT, VerifyMode.FACE)
    assert live.punched_at == datetime(2026, 3, 2, 2, 15, 30, tzinfo=UTC)
    assert len(bytes.fromhex(live.raw)) == 36


def test_terminal_restart_forgets_the_session_and_the_client_reconnects(
    terminal: BinaryTerminal, punches: Punches
) -> None:
    with _client(terminal.port, punches) as client:
        punches.wait_for(5)
        wait_until(lambda: terminal.live_connections == 1)
        terminal.restart()
        # Made while the client still holds the old session: found in the log on reconnecting.
        terminal.punch("77", 1, 4, datetime(2026, 3, 2, 11, 0, 0))
        got = punches.wait_for(6)
        wait_until(lambda: client.stats.connects == 2)
        wait_until(lambda: terminal.live_connections == 1)
        terminal.punch("78", 0, 1, datetime(2026, 3, 2, 11, 5, 0))
        got = punches.wait_for(7)
        stats = client.stats
    assert [p.person_id for p in got] == ["1", "2", "3", "4", "5", "77", "78"]
    assert stats.duplicates >= 5
    assert stats.failures == 1


def test_client_waits_for_a_udp_terminal_that_is_not_up_yet(punches: Punches) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with _client(port, punches) as client:
        time.sleep(0.3)
        assert not client.connected
        with BinaryTerminal(records=attendance_log(2), port=port, transport="udp"):
            punches.wait_for(2)


# -- through the gateway ---------------------------------------------------------------------


def _site_file(
    tmp_path: Path, url: str, *, timezone: str | None = None, device_zone: str | None = None
) -> Path:
    terminal: dict[str, Any] = {"id": "zk-gate", "kind": "clock_in", "post": "pt-gate", "url": url}
    if device_zone is not None:
        terminal["timezone"] = device_zone
    site: dict[str, Any] = {
        "id": "it-udp",
        "name": "udp clock-in",
        "posts": [
            {
                "id": "pt-gate",
                "name": "gate",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.3085, 30.5928], "radius_m": 30},
            }
        ],
        "guards": [{"id": "g-301", "name": "g-301", "pin": "3001"}],
        "devices": [
            {"id": "gps-301", "kind": "gps", "guard": "g-301"},
            terminal,
        ],
        "shifts": [
            {"guard": "g-301", "post": "pt-gate", "days": "daily", "start": "08:00", "end": "20:00"}
        ],
    }
    if timezone is not None:
        site["timezone"] = timezone
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"sites": [site]}), encoding="utf-8")
    return path


def test_a_udp_clock_in_terminal_in_the_site_file_yields_punches_through_the_gateway(
    db_url: str, tmp_path: Path
) -> None:
    record = LogRecord("3001", datetime(2026, 3, 2, 7, 58, 0), punch=0, verify=1)
    with BinaryTerminal(records=[record], transport="udp") as sim:
        engine = make_engine(db_url)
        create_schema(engine)
        load_site_file(_site_file(tmp_path, f"udp://127.0.0.1:{sim.port}"), engine, NOW)
        engine.dispose()
        gateway = build_gateway(Settings(database_url=db_url), ManualClock(NOW), with_ingest=False)
        gateway.start()
        try:
            (locked,) = gateway.field_devices.running
            assert isinstance(locked, HostExclusive) and isinstance(locked.inner, ZkUdpClient)
            counters = gateway.processor.counters
            wait_until(lambda: counters.get("punches.stored") == 1)
            assert gateway.runtime.wait_idle()
            with Session(gateway.engine) as session:
                bodies = session.scalars(
                    select(OutboxRow.body).where(OutboxRow.type == "attendance.punch")
                )
                data = json.loads(bodies.one())["data"]
        finally:
            gateway.stop()
    assert (data["person_id"], data["kind"], data["verify"]) == ("3001", "check_in", "fingerprint")
    assert data["terminal_id"] == "zk-gate" and data["guard_id"] == "g-301"


@pytest.mark.parametrize(
    ("site_zone", "device_zone", "utc_hour"),
    [("UTC", None, 7), ("Asia/Urumqi", None, 1), ("UTC", "Asia/Shanghai", 23)],
    ids=["site-utc", "site-urumqi", "device-zone-over-the-site-one"],
)
def test_a_network_terminal_reads_its_clock_in_its_sites_zone_unless_it_names_its_own(
    db_url: str, tmp_path: Path, site_zone: str, device_zone: str | None, utc_hour: int
) -> None:
    """The terminal's log holds local times: 07:58 on its clock is 07:58 UTC at a UTC site,
    01:58 UTC at a site in Urumqi (UTC+6), and 23:58 UTC the day before where the device itself
    is set to Beijing time (its ``timezone`` in the site file wins)."""
    record = LogRecord("3001", datetime(2026, 3, 2, 7, 58, 0), punch=0, verify=1)
    # Its clock is right, in its zone: nothing to correct.
    terminal_now = NOW.astimezone(ZoneInfo(device_zone or site_zone)).replace(tzinfo=None)
    with BinaryTerminal(records=[record], transport="tcp", now=terminal_now) as sim:
        engine = make_engine(db_url)
        create_schema(engine)
        site = _site_file(
            tmp_path, f"tcp://127.0.0.1:{sim.port}", timezone=site_zone, device_zone=device_zone
        )
        load_site_file(site, engine, NOW)
        engine.dispose()
        gateway = build_gateway(Settings(database_url=db_url), ManualClock(NOW), with_ingest=False)
        gateway.start()
        try:
            counters = gateway.processor.counters
            wait_until(lambda: counters.get("punches.stored") == 1)
            with Session(gateway.engine) as session:
                punched = session.scalars(select(PunchRow.punched_at)).one()
        finally:
            gateway.stop()
    day = 2 if utc_hour < 23 else 1
    assert punched == datetime(2026, 3, day, utc_hour, 58, 0, tzinfo=UTC)
