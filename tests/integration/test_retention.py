"""Retention: what the policy no longer allows is purged, exactly that, in bounded batches.

Data is made by the real pipeline (positions, events, alerts from the sample site's guard
g-001 leaving his post) and the real repositories, on SQLite and PostgreSQL; the purge runs
as the CLI runs it and as the running gateway's worker runs it (``build_gateway``), on the
injected clock.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from gateway.bootstrap import build_gateway
from gateway.cli import main
from gateway.clock import ManualClock
from gateway.db.models import AlertRow, PositionRow, ReportRow
from gateway.db.patrol_models import ScanRow
from gateway.db.patrol_repository import insert_scans
from gateway.db.quarantine import Quarantined, QuarantineRow, store_quarantined
from gateway.errors import ConfigError
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.commands import FileReport
from gateway.pipeline.processor import Processor
from gateway.privacy.retention import RetentionPolicy, purge
from gateway.records import CheckpointScan, TagTechnology
from gateway.settings import Settings
from tests.e2e.helpers import DAY_START, fix_at, post_points, roster_site
from tests.e2e.helpers import load_sample_site as load_site

POST = "jt-gate-north"
DEVICE = "gps-a"
FIXES = 40
"""One fix a minute from 08:01 (local) to 08:40: in, then out from 08:11 (a departure)."""


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def count(engine: Engine, model: type, *where: object) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
def day(engine: Engine, tmp_path: Path) -> Engine:
    """One guard's morning through the pipeline: 40 fixes, a departure, its events."""
    load_site(engine, DAY_START, roster_site(tmp_path, [("g-001", POST, DEVICE)]))
    points = post_points(engine, POST)
    clock = ManualClock(at(0))
    processor = Processor(engine, clock)
    for minute in range(1, FIXES + 1):
        clock.set(at(minute + 0.1))
        where = points.inside if minute <= 10 else points.outside
        processor.process_fixes([fix_at(DEVICE, at(minute), where)])
    processor.run_command(FileReport("g-001", at(12), at(12), destination="canteen"))
    for minute in (1, 2, 3):
        scan = CheckpointScan(
            reader_id="reader-1",
            tag_id=f"04A2{minute:04d}",
            scanned_at=at(minute),
            received_at=at(minute),
            technology=TagTechnology.NFC_TYPE2,
            source_format="pn532",
            raw=f"raw-{minute}",
        )
        with Session(engine) as session, session.begin():
            insert_scans(session, [scan], checkpoint_ids=[None])
    return engine


def test_positions_are_purged_by_fix_time_exactly_at_the_cut(day: Engine) -> None:
    assert count(day, PositionRow) == FIXES
    # 30 days after 08:20.5: the fixes of 08:01..08:20 are older than allowed.
    report = purge(day, RetentionPolicy(), at(20.5) + timedelta(days=30))
    assert report.rows["positions"] == 20
    assert report.complete
    assert count(day, PositionRow) == FIXES - 20
    assert count(day, PositionRow, PositionRow.fix_time < at(20.5)) == 0


def test_delivered_events_are_records_robot_messages_go_and_undelivered_ones_never(
    day: Engine,
) -> None:
    events = count(day, OutboxRow)
    assert events >= 2  # the departure and what followed it
    with Session(day) as session, session.begin():
        first = session.get_one(OutboxRow, session.scalar(select(func.min(OutboxRow.seq))))
        first.delivered_at = at(30)
        for destination in ("robot:jt-wecom-a", "robot:jt-ding-b"):  # its copies to two groups
            session.add(
                OutboxRow(
                    event_id=first.event_id,
                    destination=destination,
                    subject=first.subject,
                    type=first.type,
                    event_time=first.event_time,
                    body="{}",
                    created_at=first.created_at,
                    attempts=1,
                    next_attempt_at=first.next_attempt_at,
                    delivered_at=at(31) if destination.endswith("a") else None,
                )
            )
    # 400 days on: the delivered robot message is past its period; the core's event is a record.
    report = purge(day, RetentionPolicy(), at(0) + timedelta(days=400))
    assert report.rows["outbox"] == 1 and "events" not in report.rows
    assert count(day, OutboxRow) == events + 1
    # Past the records' period the delivered event goes too; undelivered rows never do.
    report = purge(day, RetentionPolicy(), at(0) + timedelta(days=731))
    assert report.rows["events"] == 1
    assert count(day, OutboxRow) == events
    assert count(day, OutboxRow, OutboxRow.delivered_at.is_not(None)) == 0


def test_raw_payloads_are_blanked_and_records_kept_until_their_own_period(day: Engine) -> None:
    alerts = count(day, AlertRow)
    assert alerts >= 1 and count(day, ReportRow) == 1 and count(day, ScanRow) == 3
    report = purge(day, RetentionPolicy(), at(0) + timedelta(days=31))
    assert report.rows["scans.raw"] == 3
    assert count(day, ScanRow) == 3  # the scans are records: kept
    assert count(day, ScanRow, ScanRow.raw != "") == 0
    assert count(day, ReportRow) == 1 and count(day, AlertRow) == alerts

    # Two years on: reports and scans go; open alerts are never purged.
    with Session(day) as session, session.begin():
        open_alerts = session.scalar(
            select(func.count()).select_from(AlertRow).where(AlertRow.status != "resolved")
        )
    report = purge(day, RetentionPolicy(), at(0) + timedelta(days=731))
    assert report.rows["reports"] == 1 and report.rows["scans"] == 3
    assert count(day, AlertRow) == open_alerts
    assert count(day, AlertRow, AlertRow.status == "resolved") == 0


def test_quarantined_inputs_go_with_the_raw_payloads(day: Engine) -> None:
    poison = Quarantined(at(5), "mqtt", "devices/gps-a/json", None, b'{"lat": "poison"}')
    with Session(day) as session, session.begin():
        store_quarantined(session, poison, ValueError("boom"), at(5))
        store_quarantined(session, poison, ValueError("boom"), at(5) + timedelta(days=2))
    report = purge(day, RetentionPolicy(), at(5) + timedelta(days=31))
    assert report.rows["quarantine"] == 1
    assert count(day, QuarantineRow) == 1


def test_each_batch_is_its_own_short_transaction_and_a_pass_has_a_budget(day: Engine) -> None:
    commits: list[int] = []
    event.listen(day, "commit", lambda _conn: commits.append(1))
    policy = RetentionPolicy(batch_rows=7, max_batches=2, pause_s=0)
    late = at(20.5) + timedelta(days=30)
    first = purge(day, policy, late)
    assert first.rows == {"positions": 14} and not first.complete
    assert len(commits) == 2
    second = purge(day, policy, late)  # the budget ends after the scans' raw payloads
    assert second.rows == {"positions": 6, "scans.raw": 3} and not second.complete
    third = purge(day, policy, late)
    assert third.rows == {} and third.complete
    assert count(day, PositionRow) == FIXES - 20


def test_zero_keeps_forever_and_nonsense_periods_are_refused(day: Engine) -> None:
    report = purge(day, RetentionPolicy(positions_days=0), at(0) + timedelta(days=365))
    assert "positions" not in report.rows
    assert count(day, PositionRow) == FIXES
    with pytest.raises(ValueError, match="records_days"):
        RetentionPolicy(positions_days=60, records_days=30)
    with pytest.raises(ConfigError, match="GATEWAY_RETENTION"):
        Settings(retention_positions_days=900).retention_policy()


def test_the_cli_purges_with_the_settings_periods(
    day: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    # The fixes are of 2026-03-02; the CLI purges on the wall clock, long after 30 days.
    monkeypatch.setenv("GATEWAY_RETENTION_POSITIONS_DAYS", "30")
    assert main(["data", "purge"]) == 0
    out = capsys.readouterr().out
    assert "positions: 40" in out and "scans.raw: 3" in out
    assert count(day, PositionRow) == 0


def test_the_running_gateway_purges_on_its_clock(
    day: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(at(20.5) + timedelta(days=30))
    settings = Settings(database_url=db_url, core_url=None, retention_interval_min=60)
    gateway = build_gateway(settings, clock, with_ingest=False, with_field_devices=False)
    counters = gateway.processor.counters
    gateway.start()
    try:
        assert _eventually(lambda: counters.get("purged.positions") == 20)
        assert count(day, PositionRow) == FIXES - 20
        # Nothing more until the next pass is due on the clock.
        clock.advance(timedelta(minutes=10))
        time.sleep(0.3)
        assert counters.get("purged.positions") == 20
        clock.advance(timedelta(minutes=51))  # 61 minutes after the first pass: all 40 old
        assert _eventually(lambda: counters.get("purged.positions") == FIXES)
        assert count(day, PositionRow) == 0
    finally:
        gateway.stop()


def _eventually(check: object, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.05)
    return False


def test_the_cli_purge_reports_each_batch_on_stderr_and_keeps_stdout_to_the_result(
    day: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    assert main(["data", "purge"]) == 0
    out, err = capsys.readouterr()
    assert out == "positions: 40\nscans.raw: 3\npurged 43 row(s)\n"  # as before: no progress
    lines = err.splitlines()
    assert lines[:4] == [
        "purge: positions: batch of 40, 40 row(s) so far",
        "purge: positions: done, 40 row(s)",
        "purge: scans.raw: batch of 3, 3 row(s) so far",
        "purge: scans.raw: done, 3 row(s)",
    ]
    # Every other table is looked at once and found with nothing due.
    assert len(lines) > 4
    assert all(line.endswith(": done, 0 row(s)") for line in lines[4:])


def test_purge_progress_is_told_after_every_batch_and_at_the_end_of_each_table(
    day: Engine,
) -> None:
    lines: list[str] = []
    policy = RetentionPolicy(batch_rows=15, pause_s=0)
    report = purge(day, policy, at(0) + timedelta(days=31), progress=lines.append)
    assert report.rows["positions"] == FIXES
    assert lines[:4] == [
        "positions: batch of 15, 15 row(s) so far",
        "positions: batch of 15, 30 row(s) so far",
        "positions: batch of 10, 40 row(s) so far",
        "positions: done, 40 row(s)",
    ]
