"""The binary-protocol client against the simulated terminal over real TCP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from drivers.zkteco.driver import ZkTcpClient
from drivers.zkteco.semantics import record_key
from fwsim.zkteco.binary_terminal import BinaryTerminal, LogRecord
from gateway.clock import ManualClock
from gateway.records import PunchKind, Rejected, VerifyMode
from tests.fixtures.zkteco import Punches, attendance_log, wait_until

NOW = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)


def _client(terminal: BinaryTerminal, punches: Punches, **kwargs: object) -> ZkTcpClient:
    return ZkTcpClient(
        "127.0.0.1",
        terminal.port,
        terminal_id="gate-1",
        clock=ManualClock(NOW),
        on_punch=punches,
        timeout_s=2.0,
        reconnect_initial_s=0.05,
        reconnect_max_s=0.5,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def terminal() -> Iterator[BinaryTerminal]:
    with BinaryTerminal(records=attendance_log(5)) as sim:
        yield sim


def test_client_reads_the_whole_log_as_punches_in_utc(
    terminal: BinaryTerminal, punches: Punches
) -> None:
    with _client(terminal, punches) as client:
        got = punches.wait_for(5)
        wait_until(lambda: terminal.live_connections == 1)
        assert client.connected
    assert [p.person_id for p in got] == ["1", "2", "3", "4", "5"]
    assert [p.kind for p in got] == [
        PunchKind.CHECK_IN,
        PunchKind.CHECK_OUT,
        PunchKind.BREAK_OUT,
        PunchKind.BREAK_IN,
        PunchKind.OVERTIME_IN,
    ]
    assert [p.verify for p in got[:3]] == [VerifyMode.FINGERPRINT, VerifyMode.CARD, VerifyMode.FACE]
    assert got[0].punched_at == datetime(2026, 3, 1, 23, 50, tzinfo=UTC)  # 07:50 in Shanghai
    assert got[0].received_at == NOW
    assert got[0].terminal_id == "gate-1"
    assert got[0].source_format == "zkteco_binary"
    assert len(bytes.fromhex(got[0].raw)) == 40


@pytest.mark.parametrize("record_size", [16, 8])
def test_older_record_layouts_are_read_too(punches: Punches, record_size: int) -> None:
    with (
        BinaryTerminal(records=attendance_log(3), record_size=record_size) as sim,
        _client(sim, punches),
    ):
        got = punches.wait_for(3)
    assert [(p.person_id, p.kind) for p in got] == [
        ("1", PunchKind.CHECK_IN),
        ("2", PunchKind.CHECK_OUT),
        ("3", PunchKind.BREAK_OUT),
    ]
    assert len(bytes.fromhex(got[0].raw)) == record_size


def test_a_log_of_many_records_is_read_whole_from_one_data_packet(punches: Punches) -> None:
    records = [
        LogRecord(str(i), datetime(2026, 3, 1, 8, i // 60, i % 60), 0, 1) for i in range(700)
    ]
    with BinaryTerminal(records=records) as sim, _client(sim, punches):
        got = punches.wait_for(700)
    assert len({record_key(p) for p in got}) == 700
    # 28 004 bytes in one read: one CMD_DATA over TCP, as terminals send it.
    assert sim.sent.count(1501) == 1


def test_a_punch_on_the_terminal_arrives_as_a_live_event(
    terminal: BinaryTerminal, punches: Punches
) -> None:
    with _client(terminal, punches) as client:
        punches.wait_for(5)
        wait_until(lambda: terminal.live_connections == 1)
        terminal.punch("42", 2, 15, datetime(2026, 3, 2, 10, 15, 30))
        got = punches.wait_for(6)
        wait_until(lambda: client.stats.events == 1)
    live = got[-1]
    assert (live.person_id, live.kind, live.verify) == ("42", PunchKind.BREAK_OUT, VerifyMode.FACE)
    assert live.punched_at == datetime(2026, 3, 2, 2, 15, 30, tzinfo=UTC)
    assert len(bytes.fromhex(live.raw)) == 36


def test_terminal_restart_mid_session_reconnects_without_repeating_records(
    terminal: BinaryTerminal, punches: Punches
) -> None:
    with _client(terminal, punches) as client:
        punches.wait_for(5)
        wait_until(lambda: terminal.live_connections == 1)
        terminal.restart()
        # A punch made while the client is away is in the log it reads on reconnecting.
        terminal.punch("77", 1, 4, datetime(2026, 3, 2, 11, 0, 0))
        got = punches.wait_for(6)
        wait_until(lambda: client.stats.connects == 2)
        wait_until(lambda: terminal.live_connections == 1)
        terminal.punch("78", 0, 1, datetime(2026, 3, 2, 11, 5, 0))
        got = punches.wait_for(7)
        stats = client.stats
    assert [p.person_id for p in got] == ["1", "2", "3", "4", "5", "77", "78"]
    assert stats.duplicates >= 5  # the re-read log held the first five again
    assert stats.failures == 1


def test_client_waits_for_a_terminal_that_is_not_up_yet(punches: Punches) -> None:
    sim = BinaryTerminal(records=attendance_log(2))
    sim.start()
    port = sim.port
    sim.stop()
    with _client(sim, punches) as client:
        time.sleep(0.3)
        assert not client.connected
        restarted = BinaryTerminal(records=attendance_log(2), port=port)
        with restarted:
            punches.wait_for(2)


def test_terminal_with_a_comm_password_is_authenticated(punches: Punches) -> None:
    with (
        BinaryTerminal(records=attendance_log(1), password=12) as sim,
        _client(sim, punches, password=12),
    ):
        punches.wait_for(1)
    assert 1102 in sim.commands


def test_a_record_with_an_unknown_punch_state_is_rejected_not_dropped(punches: Punches) -> None:
    rejected: list[Rejected] = []
    records = [
        *attendance_log(1),
        LogRecord("9", datetime(2026, 3, 2, 8, 0, 0), punch=255, verify=1),
    ]
    with BinaryTerminal(records=records) as sim, _client(sim, punches, on_reject=rejected.append):
        punches.wait_for(1)
        wait_until(lambda: len(rejected) == 1)
    assert "255" in rejected[0].reason
    assert rejected[0].device_id == "gate-1"


def test_keepalive_requests_are_answered_and_the_session_stays_up(
    terminal: BinaryTerminal, punches: Punches
) -> None:
    with _client(terminal, punches, keepalive_s=0.05) as client:
        punches.wait_for(5)
        wait_until(lambda: terminal.commands.count(201) >= 3)
        assert client.stats.connects == 1
        assert client.stats.failures == 0
