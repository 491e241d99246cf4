"""A binary-protocol clock-in terminal whose clock runs behind, as ``guard-gateway run`` wires it
(``gateway.field_devices``): the client measures the terminal's clock with ``CMD_GET_TIME``
against the gateway's injected clock and dates its punches by the gateway's clock when they
differ by over two minutes, the record's ``raw`` bytes keeping the terminal's reading."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from drivers.zkteco.binary_records import decode_time
from fwsim.zkteco.binary_terminal import BinaryTerminal, LogRecord
from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.patrol_models import PunchRow
from gateway.db.schema import create_schema
from gateway.outbox.tables import OutboxRow
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.fixtures.zkteco import wait_until
from tests.integration.test_zkteco_binary_udp import _site_file

# 08:20 in Beijing: the shift 08:00-20:00 began, its clock-in grace (15 min) ran out at 08:15.
NOW = datetime(2026, 3, 2, 0, 20, 0, tzinfo=UTC)
BEIJING = timedelta(hours=8)


@pytest.mark.parametrize(
    ("transport", "behind", "punched", "late"),
    [
        # Set to UTC: a 07:58 check-in reads 23:58 the day before.
        ("tcp", timedelta(hours=8), datetime(2026, 3, 1, 23, 58, tzinfo=UTC), False),
        ("udp", timedelta(hours=8), datetime(2026, 3, 1, 23, 58, tzinfo=UTC), False),
        # Six minutes slow: an 08:18 check-in reads 08:12, within the grace.
        ("tcp", timedelta(minutes=6), datetime(2026, 3, 2, 0, 18, tzinfo=UTC), True),
    ],
    ids=["utc-tcp", "utc-udp", "slow-tcp"],
)
def test_a_terminal_whose_clock_runs_behind_has_its_punches_dated_by_the_gateways_clock(
    db_url: str, tmp_path: Path, transport: str, behind: timedelta, punched: datetime, late: bool
) -> None:
    terminal_now = (NOW + BEIJING - behind).replace(tzinfo=None)
    reading = (punched + BEIJING - behind).replace(tzinfo=None)
    record = LogRecord("3001", reading, punch=0, verify=1)
    with BinaryTerminal(records=[record], transport=transport, now=terminal_now) as sim:  # type: ignore[arg-type]
        engine = make_engine(db_url)
        create_schema(engine)
        # Loaded the evening before: his grace runs from the shift's start.
        url = f"{transport}://127.0.0.1:{sim.port}"
        load_site_file(_site_file(tmp_path, url), engine, NOW - timedelta(hours=12))
        engine.dispose()
        gateway = build_gateway(Settings(database_url=db_url), ManualClock(NOW), with_ingest=False)
        gateway.start()
        try:
            counters = gateway.processor.counters
            wait_until(lambda: counters.get("punches.stored") == 1)
            assert gateway.runtime.wait_idle()
            with Session(gateway.engine) as session:
                row = session.scalars(select(PunchRow)).one()
                # One row per destination: each event once.
                bodies = session.execute(
                    select(OutboxRow.event_id, OutboxRow.type, OutboxRow.body).order_by(
                        OutboxRow.seq
                    )
                )
                events = [
                    (kind, json.loads(body)["data"])
                    for kind, body in {eid: (kind, body) for eid, kind, body in bodies}.values()
                ]
        finally:
            gateway.stop()
    assert row.punched_at == punched
    # The raw record (40 bytes: the packed time at offset 27) keeps the terminal's reading.
    assert decode_time(int.from_bytes(bytes.fromhex(row.raw)[27:31], "little")) == reading
    assert counters.get("punches.clock_corrected") == 1
    (punch,) = [data for kind, data in events if kind == "attendance.punch"]
    assert (punch["punched_at"], punch["late"]) == (punched.isoformat(), late)
    lates = [kind for kind, _ in events if kind == "alert.late_clock_in"]
    assert len(lates) == int(late)


@pytest.mark.parametrize(
    ("behind", "reading", "first"),
    [
        # Rounded to the minute: 8 h less 29 s one day, less 31 s after a restart.
        (
            (timedelta(hours=8, seconds=-29), timedelta(hours=8, seconds=-31)),
            datetime(2026, 3, 1, 23, 58, 29),
            datetime(2026, 3, 1, 23, 58, 29, tzinfo=UTC),
        ),
        # Across the tolerance: 121 s slow (corrected by 2 minutes), then 119 s (taken as is).
        (
            (timedelta(seconds=121), timedelta(seconds=119)),
            datetime(2026, 3, 2, 8, 16, 0),
            datetime(2026, 3, 2, 0, 18, 0, tzinfo=UTC),
        ),
        # Set right between the two reads (it was on UTC): the record it made before is the
        # one stored, not a new punch 8 hours before it.
        (
            (timedelta(hours=8), timedelta(0)),
            datetime(2026, 3, 1, 23, 58, 29),
            datetime(2026, 3, 1, 23, 58, 29, tzinfo=UTC),
        ),
    ],
    ids=["a-minute-apart", "across-the-tolerance", "clock-set-between-reads"],
)
def test_a_log_read_again_under_another_correction_stores_each_punch_once(
    db_url: str,
    tmp_path: Path,
    behind: tuple[timedelta, timedelta],
    reading: datetime,
    first: datetime,
) -> None:
    # The offset is measured at every connection: a second of drift after a restart moved the
    # correction by a minute (or ended it), and the whole log read again landed away from what
    # was stored: every punch twice.
    record = LogRecord("3001", reading, punch=0, verify=1)
    engine = make_engine(db_url)
    create_schema(engine)
    stored: list[datetime] = []
    for terminal_behind in behind:
        behind_now = terminal_behind
        terminal_now = (NOW + BEIJING - behind_now).replace(tzinfo=None)
        with BinaryTerminal(records=[record], now=terminal_now) as sim:
            load_site_file(
                _site_file(tmp_path, f"tcp://127.0.0.1:{sim.port}"),
                engine,
                NOW - timedelta(hours=12),
            )
            gateway = build_gateway(
                Settings(database_url=db_url), ManualClock(NOW), with_ingest=False
            )
            gateway.start()
            try:
                counters = gateway.processor.counters
                # Stored, or found stored already: the log was read.
                wait_until(
                    lambda: (
                        counters.get("punches.stored") + counters.get("punches.duplicate")  # noqa: B023
                        == 1
                    )
                )
                assert gateway.runtime.wait_idle()
            finally:
                gateway.stop()
        with Session(engine) as session:
            stored = list(session.scalars(select(PunchRow.punched_at)))
    engine.dispose()
    # Dated by the first reading's correction, once.
    assert stored == [first]


def test_records_made_before_the_clock_was_set_back_keep_the_terminals_reading(
    db_url: str, tmp_path: Path
) -> None:
    # Right until 07:00, then set to UTC (8 h back). A break-out at 06:30 under the right clock,
    # then his 07:58 check-in, read 23:58 the day before. Before, today's offset moved the
    # 06:30 record 8 hours on, to 14:30, after it was read: a punch from the future.
    made_right = LogRecord("3001", datetime(2026, 3, 2, 6, 30, 0), punch=2, verify=1)
    made_behind = LogRecord("3001", datetime(2026, 3, 1, 23, 58, 0), punch=0, verify=1)
    terminal_now = (NOW + BEIJING - timedelta(hours=8)).replace(tzinfo=None)
    with BinaryTerminal(records=[made_right, made_behind], now=terminal_now) as sim:
        engine = make_engine(db_url)
        create_schema(engine)
        url = f"tcp://127.0.0.1:{sim.port}"
        load_site_file(_site_file(tmp_path, url), engine, NOW - timedelta(hours=12))
        engine.dispose()
        gateway = build_gateway(Settings(database_url=db_url), ManualClock(NOW), with_ingest=False)
        gateway.start()
        try:
            counters = gateway.processor.counters
            wait_until(lambda: counters.get("punches.stored") == 2)
            assert gateway.runtime.wait_idle()
            with Session(gateway.engine) as session:
                stored = list(
                    session.execute(
                        select(PunchRow.kind, PunchRow.punched_at).order_by(PunchRow.punched_at)
                    )
                )
        finally:
            gateway.stop()
    assert [tuple(row) for row in stored] == [
        ("break_out", datetime(2026, 3, 1, 22, 30, tzinfo=UTC)),
        ("check_in", datetime(2026, 3, 1, 23, 58, tzinfo=UTC)),
    ]
    assert counters.get("punches.clock_corrected") == 1
    assert counters.get("punches.clock_ahead") == 0
