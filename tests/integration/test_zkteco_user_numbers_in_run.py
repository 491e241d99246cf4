"""Older ZKTeco terminals name the user by their internal number, as ``guard-gateway run`` reads
them (``gateway.field_devices`` starts the binary-protocol client for the site file's terminal).

Their 8-byte log records and their 10- or 14-byte live events carry the terminal's internal user
number, not the PIN the site file lists (ZKSoftware's ZEM200 firmware, ``main.c`` ``SaveAttLog``,
sends ``(U16)pin``, the number it looks the user up by, in the 10-byte event; pyzk reads the
8-byte record the same way). The PIN is in the terminal's user table. A punch is stored once,
credited to the guard whose PIN it is: not as ``uid:<number>`` while the terminal refuses the
table and again under the PIN once it answers, and never as the guard whose PIN happens to be
the number.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fwsim.zkteco.binary_terminal import BinaryTerminal, LogRecord, User
from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.patrol_models import PunchRow
from gateway.db.schema import create_schema
from gateway.lifecycle import Gateway
from gateway.outbox.tables import OutboxRow
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.fixtures.zkteco import wait_until

NOW = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)
CMD_REG_EVENT = 500
# Internal numbers 1 and 2 are the users with PINs 1001 and 1002; a third user's PIN is "2".
USERS = [User(1, "1001"), User(2, "1002"), User(3, "2")]
GUARDS = {"1001": "g-1001", "1002": "g-1002", "1003": "g-1003", "2": "g-2"}
LOG = [
    LogRecord("1002", datetime(2026, 3, 2, 7, 55), punch=0, verify=1),
    LogRecord("1001", datetime(2026, 3, 2, 7, 58), punch=0, verify=4),
]
Transport = Literal["tcp", "udp"]


def _site_file(tmp_path: Path, url: str) -> Path:
    site: dict[str, Any] = {
        "id": "old-zk",
        "name": "older clock-in terminal",
        "posts": [
            {
                "id": "pt-gate",
                "name": "gate",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.3085, 30.5928], "radius_m": 30},
            }
        ],
        "guards": [{"id": guard, "name": guard, "pin": pin} for pin, guard in GUARDS.items()],
        "devices": [{"id": "zk-old", "kind": "clock_in", "post": "pt-gate", "url": url}],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"sites": [site]}), encoding="utf-8")
    return path


@pytest.fixture
def run_gateway(db_url: str, tmp_path: Path) -> Iterator[Any]:
    """Start the gateway of a site file naming the terminal ``sim``, as ``guard-gateway run``
    builds it; stopped at the end."""
    started: list[Gateway] = []

    def start(sim: BinaryTerminal) -> Gateway:
        engine = make_engine(db_url)
        create_schema(engine)
        url = f"{sim.transport}://127.0.0.1:{sim.port}"
        load_site_file(_site_file(tmp_path, url), engine, NOW)
        engine.dispose()
        gateway = build_gateway(Settings(database_url=db_url), ManualClock(NOW), with_ingest=False)
        gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def _stored(gateway: Gateway) -> list[tuple[str, str | None]]:
    """Every stored punch as (person id, guard credited), in punch time order."""
    assert gateway.runtime.wait_idle()
    with Session(gateway.engine) as session:
        rows = session.execute(
            select(PunchRow.person_id, PunchRow.guard_id).order_by(PunchRow.punched_at)
        )
        return [(person, guard) for person, guard in rows]


def _unknown_persons(gateway: Gateway) -> int:
    with Session(gateway.engine) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(OutboxRow.type == "attendance.unknown_person")
            )
            or 0
        )


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_a_log_read_while_the_user_table_is_refused_is_stored_under_the_pins_once_it_answers(
    run_gateway: Any, transport: Transport
) -> None:
    with BinaryTerminal(
        users=USERS, records=LOG, record_size=8, user_record_size=28, transport=transport
    ) as sim:
        sim.refuse_user_table(1)
        gateway = run_gateway(sim)
        counters = gateway.processor.counters
        wait_until(lambda: counters.get("punches.stored") == 2)
        stored = _stored(gateway)
        refusals_then_reads = sim.commands.count(1503)  # log, refused table, table
    assert stored == [("1002", "g-1002"), ("1001", "g-1001")]
    assert _unknown_persons(gateway) == 0
    assert refusals_then_reads == 3
    # The refusal is counted where an operator looks (/health's counters), once.
    assert counters.get("rejected.user_table_refused") == 1


def test_the_log_read_again_after_a_refused_user_table_adds_no_second_punch(
    run_gateway: Any,
) -> None:
    with BinaryTerminal(users=USERS, records=LOG, record_size=8, user_record_size=28) as sim:
        sim.refuse_user_table(1)
        gateway = run_gateway(sim)
        counters = gateway.processor.counters
        wait_until(lambda: counters.get("punches.stored") == 2)
        sim.restart()  # the terminal reboots: the client connects again and re-reads its log
        wait_until(lambda: sim.commands.count(CMD_REG_EVENT) == 2)
        stored = _stored(gateway)
    assert stored == [("1002", "g-1002"), ("1001", "g-1001")]
    assert counters.get("punches.stored") == 2
    assert _unknown_persons(gateway) == 0


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("event_size", [10, 14])
def test_a_live_event_naming_the_internal_number_is_the_punch_of_that_users_pin(
    run_gateway: Any, transport: Transport, event_size: int
) -> None:
    with BinaryTerminal(
        users=USERS, record_size=8, user_record_size=28, transport=transport, event_size=event_size
    ) as sim:
        gateway = run_gateway(sim)
        wait_until(lambda: CMD_REG_EVENT in sim.commands)
        sim.punch("1002", 0, 1, datetime(2026, 3, 2, 8, 1))  # internal number 2
        wait_until(lambda: gateway.processor.counters.get("punches.stored") == 1)
        stored = _stored(gateway)
    # Not the guard whose PIN is "2".
    assert stored == [("1002", "g-1002")]


def test_a_live_event_of_a_user_enrolled_after_the_table_was_read_reads_it_again(
    run_gateway: Any,
) -> None:
    with BinaryTerminal(
        users=USERS, records=LOG, record_size=8, user_record_size=28, event_size=10
    ) as sim:
        gateway = run_gateway(sim)
        counters = gateway.processor.counters
        wait_until(lambda: counters.get("punches.stored") == 2)
        wait_until(lambda: CMD_REG_EVENT in sim.commands)
        # PIN 1003 is enrolled now (internal number 4), after the table was read.
        sim.punch("1003", 0, 1, datetime(2026, 3, 2, 8, 2))
        wait_until(lambda: counters.get("punches.stored") == 3)
        stored = _stored(gateway)
    assert stored == [("1002", "g-1002"), ("1001", "g-1001"), ("1003", "g-1003")]
    assert _unknown_persons(gateway) == 0
