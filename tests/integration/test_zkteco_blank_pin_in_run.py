"""A record with a blank PIN from a binary-protocol clock-in terminal, as ``guard-gateway run``
wires the terminal (``gateway.field_devices``), on SQLite and PostgreSQL: it names nobody, so it
is refused and counted (``rejected.blank_pin``), never credited to the guard whose PIN is 0.

Numeric layouts write 0 where a user has no user id (the 16-byte record; the 28-byte user entry
an 8-byte record is credited from); text layouts leave the field empty (the 40-byte record).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

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

NOW = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)


def _stored_or_refused(counts: dict[str, int]) -> int:
    refused = sum(n for name, n in counts.items() if name.startswith("rejected."))
    return counts.get("punches.stored", 0) + refused


def _with_guard_of_pin_zero(path: Path) -> Path:
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    doc["sites"][0]["guards"].append({"id": "g-300", "name": "g-300", "pin": "0"})
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("record_size", "user_record_size", "blank"),
    [(16, 72, "0"), (8, 28, "0"), (40, 72, "")],
    ids=["16-byte-record", "8-byte-record-28-byte-user", "40-byte-record"],
)
def test_a_record_with_a_blank_pin_is_refused_not_credited_to_the_guard_of_pin_zero(
    db_url: str, tmp_path: Path, record_size: int, user_record_size: int, blank: str
) -> None:
    good = LogRecord("3001", datetime(2026, 3, 2, 7, 58, 0), punch=0, verify=1)
    nobody = LogRecord(blank, datetime(2026, 3, 2, 7, 59, 0), punch=0, verify=3)
    with BinaryTerminal(
        records=[nobody, good], record_size=record_size, user_record_size=user_record_size
    ) as sim:
        engine = make_engine(db_url)
        create_schema(engine)
        path = _site_file(tmp_path, f"tcp://127.0.0.1:{sim.port}")
        load_site_file(_with_guard_of_pin_zero(path), engine, NOW)
        engine.dispose()
        gateway = build_gateway(Settings(database_url=db_url), ManualClock(NOW), with_ingest=False)
        counters = gateway.processor.counters
        gateway.start()
        try:
            # Both records handled: stored, or refused.
            wait_until(lambda: _stored_or_refused(counters.snapshot()) >= 2)
            assert gateway.runtime.wait_idle()
            assert (counters.get("punches.stored"), counters.get("rejected.blank_pin")) == (1, 1)
            with Session(gateway.engine) as session:
                stored = session.execute(select(PunchRow.person_id, PunchRow.guard_id)).all()
                bodies = session.scalars(select(OutboxRow.body)).all()
        finally:
            gateway.stop()
    assert [tuple(row) for row in stored] == [("3001", "g-301")]
    data = [json.loads(body)["data"] for body in bodies]
    assert [d.get("guard_id") for d in data if d.get("person_id") is not None] == ["g-301"]
    assert all(d.get("guard_id") != "g-300" for d in data)
