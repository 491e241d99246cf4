"""Records a binary-protocol clock-in terminal sends that cannot be punches, as ``guard-gateway
run`` wires the terminal (``gateway.field_devices``): each is dropped, counted in the gateway's
counters (``rejected.<problem>``, shown by ``/health`` and the metrics) and logged rate-limited
(once per terminal and problem a minute of the gateway's clock), while the good records of the
same log are punches. Over TCP and over UDP, the same client."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fwsim.zkteco.binary_terminal import BinaryTerminal, LogRecord
from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.fixtures.zkteco import wait_until
from tests.integration.test_zkteco_binary_udp import _site_file

NOW = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)
BAD = 12


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_records_with_an_impossible_punch_state_are_counted_and_logged_rate_limited(
    db_url: str, tmp_path: Path, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = LogRecord("3001", datetime(2026, 3, 2, 7, 58, 0), punch=0, verify=1)
    # A terminal whose firmware writes a state the protocol does not have, once a minute.
    bad = [LogRecord("9", datetime(2026, 3, 2, 7, i, 0), punch=255, verify=1) for i in range(BAD)]
    with BinaryTerminal(records=[*bad, good], transport=transport) as sim:  # type: ignore[arg-type]
        engine = make_engine(db_url)
        create_schema(engine)
        url = f"{transport}://127.0.0.1:{sim.port}"
        load_site_file(_site_file(tmp_path, url), engine, NOW)
        engine.dispose()
        gateway = build_gateway(Settings(database_url=db_url), ManualClock(NOW), with_ingest=False)
        counters = gateway.processor.counters
        with caplog.at_level(logging.WARNING):
            gateway.start()
            try:
                wait_until(lambda: counters.get("punches.stored") == 1)
                wait_until(lambda: counters.get("rejected.punch_state") == BAD)
                assert gateway.runtime.wait_idle()
            finally:
                gateway.stop()
    lines = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and "punch state" in r.getMessage()
    ]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "zk-gate" in lines[0].getMessage()
