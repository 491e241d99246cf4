"""Every command but ``run`` creates or upgrades the schema of the database it is given before
it reads (docs/operations.md), so a command an operator tries first on a new database answers
as on an empty one: ``quarantine list`` says the quarantine is empty, ``ledger`` that no site is
stored yet, instead of a traceback about a missing table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import inspect

from gateway.cli import main
from gateway.db.engine import make_engine
from gateway.db.migrate import current, head


@pytest.fixture
def new_database(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """``GATEWAY_DATABASE_URL`` naming a database no command has touched (no table at all)."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_") and name != "GATEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    engine = make_engine(db_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    return db_url


def _revision(db_url: str) -> str | None:
    engine = make_engine(db_url)
    try:
        return current(engine)
    finally:
        engine.dispose()


def test_quarantine_list_on_a_new_database_says_it_is_empty(
    new_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["quarantine", "list"]) == 0

    assert capsys.readouterr().out == "quarantine empty\n"
    assert _revision(new_database) == head()


def test_ledger_on_a_new_database_says_no_site_is_stored(
    new_database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["ledger", "2026-12-06", "--out", str(tmp_path / "ledger")]) == 1

    assert capsys.readouterr().err == "guard-gateway: no site stored; load a site file first\n"
    assert _revision(new_database) == head()
