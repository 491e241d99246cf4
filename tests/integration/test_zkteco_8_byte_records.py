"""An older ZKTeco terminal (8-byte log records) read over the binary protocol, TCP and UDP.

The 8-byte record layout names the user by the terminal's internal number (``uid``), not by the
PIN people type and the site file lists: pyzk (fananimi/pyzk ``base.py`` ``get_attendance``)
reads the user table and maps each record's ``uid`` to that user's ``user_id``. A terminal whose
users were enrolled with PINs such as 1001, 1002 (internal numbers 1, 2) must give punches of
PIN 1001 and 1002, never of "1" and "2"; a record whose number is no longer in the table is
an unknown person (``uid:<number>``), never the guard whose PIN is that number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import pytest

from drivers.zkteco.driver import ZkTcpClient
from drivers.zkteco.udp import ZkUdpClient
from fwsim.zkteco.binary_terminal import BinaryTerminal, LogRecord, User
from gateway.clock import ManualClock
from gateway.records import PunchKind
from tests.fixtures.zkteco import Punches

NOW = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)
CMD_PREPARE_BUFFER = 1503
USERS = [User(1, "1001", name="li ming"), User(2, "1002", name="wang wei")]
RECORDS = [
    LogRecord("1002", datetime(2026, 3, 2, 7, 55), punch=0, verify=1),
    LogRecord("1001", datetime(2026, 3, 2, 7, 58), punch=0, verify=4),
]


def _client(sim: BinaryTerminal, punches: Punches) -> ZkTcpClient:
    client_class = ZkUdpClient if sim.transport == "udp" else ZkTcpClient
    return client_class(
        "127.0.0.1",
        sim.port,
        terminal_id="gate-old",
        clock=ManualClock(NOW),
        on_punch=punches,
        timeout_s=2.0,
        reconnect_initial_s=0.05,
        reconnect_max_s=0.5,
    )


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("user_record_size", [28, 72])
def test_8_byte_records_are_the_punches_of_the_users_pins_not_their_internal_numbers(
    punches: Punches, transport: Literal["tcp", "udp"], user_record_size: int
) -> None:
    with (
        BinaryTerminal(
            users=USERS,
            records=RECORDS,
            record_size=8,
            user_record_size=user_record_size,
            transport=transport,
        ) as sim,
        _client(sim, punches) as client,
    ):
        got = punches.wait_for(2)
    assert [(p.person_id, p.kind) for p in got] == [
        ("1002", PunchKind.CHECK_IN),
        ("1001", PunchKind.CHECK_IN),
    ]
    assert len(bytes.fromhex(got[0].raw)) == 8
    assert client.stats.unmapped == 0


def test_a_user_deleted_after_punching_is_an_unknown_person_not_the_owner_of_his_number(
    punches: Punches,
) -> None:
    # PIN "2" belongs to someone else: the deleted user's internal number 2 must not be read
    # as that PIN.
    users = [*USERS, User(3, "2", name="zhao jun")]
    with BinaryTerminal(users=users, records=RECORDS, record_size=8, user_record_size=28) as sim:
        sim.remove_user("1002")
        with _client(sim, punches) as client:
            got = punches.wait_for(2)
    assert [p.person_id for p in got] == ["uid:2", "1001"]
    assert (client.stats.unmapped, client.stats.rejects) == (1, 0)


@pytest.mark.parametrize("record_size", [40, 16])
def test_records_that_carry_the_pin_are_read_without_the_user_table(
    punches: Punches, record_size: int
) -> None:
    with (
        BinaryTerminal(users=USERS, records=RECORDS, record_size=record_size) as sim,
        _client(sim, punches),
    ):
        got = punches.wait_for(2)
    assert [p.person_id for p in got] == ["1002", "1001"]
    assert sim.commands.count(CMD_PREPARE_BUFFER) == 1  # the log, not the users
