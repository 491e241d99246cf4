"""SQLite's WAL is checkpointed on a thread of the gateway's own, not in the pipeline's commits
(``gateway.db.wal_checkpoint``), and the commits' own checkpoint is only a backstop."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from pytest_mock import MockerFixture
from sqlalchemy import Engine, text

from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.wal_checkpoint import BACKSTOP_PAGES, WalCheckpointer
from gateway.settings import Settings
from tests.e2e.helpers import DAY_START
from tests.fixtures.live_gateway import wait_for

ROWS = 700
ROW_BYTES = 8000  # two pages a row: 1,400 pages of WAL, past SQLite's 1,000, below the backstop


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)")
    return engine


def _commit_rows(engine: Engine) -> None:
    """One commit a row, as the pipeline commits a batch."""
    for _ in range(ROWS):
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO blobs (body) VALUES (:body)"), {"body": os.urandom(ROW_BYTES)}
            )


def _database_bytes(engine: Engine) -> int:
    assert engine.url.database is not None
    return os.path.getsize(engine.url.database)


def test_the_committing_connections_leave_the_checkpoint_to_the_thread(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_PAGES
    before = _database_bytes(engine)
    _commit_rows(engine)
    # 5.6 MB committed, all of it still in the WAL: no commit copied it back.
    assert _database_bytes(engine) - before < ROWS * ROW_BYTES // 10

    checkpointer = WalCheckpointer(engine)
    busy, in_wal, copied = checkpointer.checkpoint() or (None, None, None)
    assert busy == 0 and in_wal is not None and in_wal >= ROWS * 2 and copied == in_wal
    assert _database_bytes(engine) - before >= ROWS * ROW_BYTES
    engine.dispose()


def test_the_thread_copies_the_wal_back_while_commits_go_on(engine: Engine) -> None:
    checkpointer = WalCheckpointer(engine, every_s=0.02)
    before = _database_bytes(engine)
    checkpointer.start()
    try:
        _commit_rows(engine)
        assert any(t.name == "wal-checkpoint" for t in threading.enumerate())
        # Most of what was committed reaches the database file, copied by the thread (the
        # commits leave it in the WAL: the test above). How much by the last commit depends on
        # how the two threads were scheduled (a loaded machine had it at 46%), so wait for it.
        wait_for(
            lambda: _database_bytes(engine) - before >= ROWS * ROW_BYTES // 2,
            "the thread copying the WAL back",
            timeout_s=30,
        )
    finally:
        checkpointer.stop()
    assert not any(t.name == "wal-checkpoint" for t in threading.enumerate())
    assert checkpointer.checkpoints > 0
    engine.dispose()


def test_a_failed_checkpoint_is_logged_and_the_next_one_runs(
    engine: Engine, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    checkpointer = WalCheckpointer(engine)
    real_connect = engine.connect
    mocker.patch.object(engine, "connect", side_effect=[OSError("disk I/O error"), real_connect()])
    with caplog.at_level(logging.WARNING, logger="gateway.db.wal_checkpoint"):
        assert checkpointer.checkpoint() is None
    assert "WAL checkpoint failed: disk I/O error" in caplog.text
    assert checkpointer.checkpoint() is not None and checkpointer.checkpoints == 1
    engine.dispose()


def test_a_gateway_checkpoints_an_sqlite_database_on_its_own_thread_until_it_stops(
    db_url: str,
) -> None:
    gateway = build_gateway(
        Settings(database_url=db_url),
        ManualClock(DAY_START),
        with_ingest=False,
        with_field_devices=False,
    )
    assert gateway.checkpointer is not None
    sqlite = db_url.startswith("sqlite")
    assert gateway.checkpointer.applies is sqlite  # PostgreSQL has its own
    gateway.start()
    try:
        running = any(t.name == "wal-checkpoint" for t in threading.enumerate())
    finally:
        gateway.stop()
    assert running is sqlite
    assert not any(t.name == "wal-checkpoint" for t in threading.enumerate())
