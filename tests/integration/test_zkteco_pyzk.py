"""The simulated binary terminal driven by pyzk, the client most ZKTeco integrations use, over
TCP and UDP on 127.0.0.1: what pyzk reads back must be exactly what the terminal holds."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from zk import ZK  # type: ignore[import-untyped]
from zk.exception import ZKErrorResponse  # type: ignore[import-untyped]

from fwsim.zkteco.binary_terminal import BinaryTerminal, LogRecord, User
from fwsim.zkteco.wire import CMD, tcp
from tests.fixtures.zkteco import wait_until

SERIAL = "OIN7030067031600"
USERS = [
    User(1, "1001", "李明", card=4571234),
    User(2, "1002", "Wang", card=0),
    User(7, "1003", "Admin", card=99887766, privilege=14, password="1234"),
]
LOG = [
    LogRecord("1001", datetime(2026, 3, 2, 7, 58, 12), punch=0, verify=1),
    LogRecord("1002", datetime(2026, 3, 2, 8, 1, 5), punch=0, verify=15),
    LogRecord("1001", datetime(2026, 3, 2, 12, 0, 0), punch=2, verify=4),
    LogRecord("1003", datetime(2026, 3, 2, 17, 30, 45), punch=1, verify=1),
]
TRANSPORTS = ["tcp", "udp"]


def _terminal(transport: str, **kwargs: Any) -> BinaryTerminal:
    options: dict[str, Any] = {"users": USERS, "records": LOG, "serial_number": SERIAL}
    options |= kwargs
    return BinaryTerminal(transport="udp" if transport == "udp" else "tcp", **options)


def _zk(terminal: BinaryTerminal, **kwargs: Any) -> Any:
    return ZK(
        "127.0.0.1",
        port=terminal.port,
        timeout=5,
        force_udp=terminal.transport == "udp",
        ommit_ping=True,
        **kwargs,
    )


@pytest.fixture(params=TRANSPORTS)
def terminal(request: pytest.FixtureRequest) -> Iterator[BinaryTerminal]:
    with _terminal(request.param) as sim:
        yield sim


@pytest.fixture
def conn(terminal: BinaryTerminal) -> Iterator[Any]:
    client = _zk(terminal).connect()
    try:
        yield client
    finally:
        client.disconnect()


def test_pyzk_reads_what_the_terminal_says_about_itself(conn: Any) -> None:
    assert conn.get_firmware_version() == "Ver 6.60 Sep 23 2015"
    assert conn.get_serialnumber() == SERIAL
    assert conn.get_platform() == "ZMM220_TFT"
    assert conn.get_device_name() == "K40"
    assert conn.get_mac() == "00:17:61:12:f0:3a"
    assert conn.get_fp_version() == 10
    assert conn.get_extend_fmt() == 1
    assert conn.get_user_extend_fmt() == 1
    assert conn.get_face_version() == 0
    assert conn.get_pin_width() == 9
    assert (conn.get_face_fun_on(), conn.get_compat_old_firmware()) == (0, 0)
    assert conn.get_network_params() == {
        "ip": "127.0.0.1",
        "mask": "255.255.255.0",
        "gateway": "0.0.0.0",
    }
    assert conn.set_sdk_build_1() is True


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("user_record_size", [72, 28])
def test_pyzk_reads_the_user_table_with_names_and_cards(
    transport: str, user_record_size: int
) -> None:
    with _terminal(transport, user_record_size=user_record_size) as sim:
        client = _zk(sim).connect()
        try:
            users = client.get_users()
        finally:
            client.disconnect()
    group = "1" if user_record_size == 28 else ""  # pyzk reads the 72-byte group as text
    assert [
        (u.uid, u.user_id, u.name, u.card, u.privilege, u.password, u.group_id) for u in users
    ] == [
        (1, "1001", "李明", 4571234, 0, "", group),
        (2, "1002", "Wang", 0, 0, "", group),
        (7, "1003", "Admin", 99887766, 14, "1234", group),
    ]
    assert client.user_packet_size == user_record_size
    assert CMD["PREPARE_BUFFER"] in sim.commands
    assert CMD["FREE_DATA"] in sim.commands


def test_pyzk_reads_the_attendance_log_exactly(terminal: BinaryTerminal, conn: Any) -> None:
    records = conn.get_attendance()
    assert [(a.user_id, a.timestamp, a.status, a.punch, a.uid) for a in records] == [
        ("1001", datetime(2026, 3, 2, 7, 58, 12), 1, 0, 1),
        ("1002", datetime(2026, 3, 2, 8, 1, 5), 15, 0, 2),
        ("1001", datetime(2026, 3, 2, 12, 0, 0), 4, 2, 1),
        ("1003", datetime(2026, 3, 2, 17, 30, 45), 1, 1, 7),
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_log_longer_than_a_chunk_is_read_whole_and_over_tcp_each_chunk_is_one_data_packet(
    transport: str,
) -> None:
    # 2000 records x 40 bytes = 80 000 bytes: two reads over TCP (0xFFC0 + the rest), five 16 KiB
    # reads over UDP, each answered in datagrams of 1024 bytes.
    many = [LogRecord("1002", datetime(2026, 3, 1, i // 100, i % 60, i % 59)) for i in range(2000)]
    with _terminal(transport, records=many) as sim:
        client = _zk(sim).connect()
        try:
            records = client.get_attendance()
        finally:
            client.disconnect()
    assert [(a.user_id, a.timestamp) for a in records] == [(r.pin, r.at) for r in many]
    reads = sim.commands.count(CMD["READ_BUFFER"])
    data_packets = sim.sent.count(CMD["DATA"])
    if sim.transport == "tcp":
        assert (reads, data_packets) == (3, 3)  # users (1 chunk) + log (2 chunks)
    else:
        assert (reads, data_packets) == (6, 1 + 79)  # users: 1 datagram; log: 80 004 / 1024


def test_free_sizes_agree_with_what_the_terminal_serves(conn: Any) -> None:
    assert conn.read_sizes() is True
    assert (conn.users, conn.cards, conn.records, conn.fingers) == (3, 2, 4, 0)
    assert (conn.users_cap, conn.users_av) == (10_000, 9_997)
    assert (conn.rec_cap, conn.rec_av) == (100_000, 99_996)
    assert len(conn.get_users()) == conn.users
    assert len(conn.get_attendance()) == conn.records


def test_time_set_is_the_time_read_back(terminal: BinaryTerminal, conn: Any) -> None:
    assert conn.get_time() == datetime(2026, 3, 2, 8, 0, 0)
    assert conn.set_time(datetime(2026, 12, 31, 23, 59, 58)) is True
    assert conn.get_time() == datetime(2026, 12, 31, 23, 59, 58)
    assert terminal.now == datetime(2026, 12, 31, 23, 59, 58)


def test_disable_enable_refresh_and_free_data_are_acknowledged(
    terminal: BinaryTerminal, conn: Any
) -> None:
    assert conn.disable_device() is True
    assert terminal.enabled is False
    assert conn.enable_device() is True
    assert terminal.enabled is True
    assert conn.refresh_data() is True
    assert conn.free_data() is True


def test_live_capture_yields_the_two_punches_made_on_the_terminal(
    terminal: BinaryTerminal, conn: Any
) -> None:
    terminal.event_ack_timeout_s = 10.0  # the second punch must wait for pyzk's ack, not this

    def two_punches() -> None:
        wait_until(lambda: terminal.live_connections == 1)
        terminal.punch("1002", 0, 15, datetime(2026, 3, 2, 18, 2, 3))
        terminal.punch("1003", 1, 4, datetime(2026, 3, 2, 18, 4, 59))

    puncher = threading.Thread(target=two_punches, daemon=True)
    puncher.start()
    got = []
    started = time.monotonic()
    for event in conn.live_capture(new_timeout=1):
        if event is not None:
            got.append((event.user_id, event.timestamp, event.status, event.punch, event.uid))
        if len(got) == 2 or time.monotonic() - started > 15:
            conn.end_live_capture = True
    puncher.join(5)
    assert got == [
        ("1002", datetime(2026, 3, 2, 18, 2, 3), 15, 0, 2),
        ("1003", datetime(2026, 3, 2, 18, 4, 59), 4, 1, 7),
    ]
    assert time.monotonic() - started < 8  # the second event went out on the first's ack
    assert terminal.commands.count(CMD["ACK_OK"]) == 2  # pyzk acknowledged each event
    for command in ("CANCELCAPTURE", "STARTVERIFY"):
        assert CMD[command] in terminal.commands
    assert terminal.live_connections == 0  # pyzk unregistered (CMD_REG_EVENT 0) on leaving
    assert [r.pin for r in terminal.records[-2:]] == ["1002", "1003"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_comm_key_is_checked(transport: str) -> None:
    with _terminal(transport, password=123456) as sim:
        client = _zk(sim, password=123456).connect()
        assert client.get_serialnumber() == SERIAL
        client.disconnect()
        with pytest.raises(ZKErrorResponse, match="Unauthenticated"):
            _zk(sim, password=654321).connect()
    assert sim.commands.count(CMD["AUTH"]) == 2


def test_an_event_never_acknowledged_holds_the_next_one_only_for_the_ack_timeout(
    terminal: BinaryTerminal, conn: Any
) -> None:
    terminal.event_ack_timeout_s = 0.5
    terminal.lose(CMD["REG_EVENT"], 1)  # the first event never reaches pyzk: no ack comes

    def two_punches() -> None:
        wait_until(lambda: terminal.live_connections == 1)
        terminal.punch("1002", 0, 15, datetime(2026, 3, 2, 18, 2, 3))
        terminal.punch("1003", 1, 4, datetime(2026, 3, 2, 18, 4, 59))

    puncher = threading.Thread(target=two_punches, daemon=True)
    puncher.start()
    got = []
    started = time.monotonic()
    for event in conn.live_capture(new_timeout=1):
        if event is not None:
            got.append((event.user_id, event.timestamp))
        if got or time.monotonic() - started > 10:
            conn.end_live_capture = True
    puncher.join(5)
    assert got == [("1003", datetime(2026, 3, 2, 18, 4, 59))]
    assert terminal.sent.count(CMD["REG_EVENT"]) == 2  # both went out; the first was lost
    assert [r.pin for r in terminal.records[-2:]] == ["1002", "1003"]


def test_a_punch_the_user_layout_cannot_hold_is_refused_and_changes_nothing() -> None:
    terminal = _terminal("tcp", user_record_size=28)
    with pytest.raises(ValueError, match="numeric user ids"):
        terminal.punch("A-17", 0, 1, datetime(2026, 3, 2, 9, 0, 0))
    assert (len(terminal.users), len(terminal.records)) == (3, 4)


def test_a_time_that_does_not_exist_is_refused_and_the_clock_kept() -> None:
    # Not something pyzk sends: 31 February in ZK's packed time, straight on the wire.
    with _terminal("tcp") as sim, socket.create_connection(("127.0.0.1", sim.port), 5) as sock:
        sock.sendall(tcp(CMD["CONNECT"], 0, 0))
        connected = sock.recv(64)
        session = struct.unpack_from("<H", connected, 12)[0]
        impossible = ((26 * 12 + 1) * 31 + 30) * 86400
        sock.sendall(tcp(CMD["SET_TIME"], session, 1, struct.pack("<I", impossible)))
        answer = sock.recv(64)
    assert struct.unpack_from("<H", answer, 8)[0] == CMD["ACK_ERROR"]
    assert sim.now == datetime(2026, 3, 2, 8, 0, 0)
