"""A binary-protocol terminal's log, read as ``guard-gateway run`` wires it, is told apart from
the punches already stored under another clock correction with one query for the upload, on
SQLite and PostgreSQL (``gateway.db.punch_corrections``).

Before, each punch of the log was looked up with a ``SELECT`` of its own: a log of thirty
punches sent thirty. The statements the gateway's engine sends are counted with a
``before_cursor_execute`` listener (``tests.fixtures.sql_statements``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from fwsim.zkteco.binary_terminal import BinaryTerminal, LogRecord
from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.fixtures.sql_statements import Statements
from tests.fixtures.zkteco import wait_until
from tests.integration.test_zkteco_binary_udp import _site_file
from tests.integration.test_zkteco_clock_behind_in_run import BEIJING, NOW


def _correction_lookups(db_url: str, tmp_path: Path, punches: int) -> int:
    """The ``SELECT``\\ s of stored punches by their records (``raw``) the gateway sends while
    it stores a log of ``punches`` check-ins, a minute apart, from a terminal set to UTC (its
    punches dated by the gateway's clock)."""
    terminal_now = (NOW + BEIJING - timedelta(hours=8)).replace(tzinfo=None)
    records = [
        LogRecord("3001", terminal_now - timedelta(minutes=minute), punch=0, verify=1)
        for minute in range(1, punches + 1)
    ]
    engine = make_engine(db_url)
    create_schema(engine)
    with BinaryTerminal(records=records, now=terminal_now) as sim:
        site = _site_file(tmp_path / str(punches), f"tcp://127.0.0.1:{sim.port}")
        load_site_file(site, engine, NOW - timedelta(hours=12))
        engine.dispose()
        gateway = build_gateway(Settings(database_url=db_url), ManualClock(NOW), with_ingest=False)
        statements = Statements(gateway.engine)
        statements.on = True
        gateway.start()
        try:
            counters = gateway.processor.counters
            wait_until(lambda: counters.get("punches.stored") == punches)
            assert gateway.runtime.wait_idle()
        finally:
            gateway.stop()
    return sum(
        1
        for sql, _many in statements.touching("punches")
        if sql.startswith("SELECT") and "punches.raw" in sql.partition(" WHERE ")[2]
    )


@pytest.mark.parametrize("punches", [3, 30])
def test_a_terminals_log_is_checked_against_other_corrections_in_one_query(
    db_url: str, tmp_path: Path, punches: int
) -> None:
    (tmp_path / str(punches)).mkdir()
    assert _correction_lookups(db_url, tmp_path, punches) == 1
