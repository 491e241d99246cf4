"""Shared fixtures: databases (SQLite always, PostgreSQL when its URL is set) and corpus paths."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from gateway.db.engine import make_engine
from gateway.db.schema import create_schema

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
POSTGRES_URL_ENV = "GATEWAY_TEST_POSTGRES_URL"

pytest_plugins = [
    "tests.fixtures.live_gateway",
    "tests.fixtures.mqtt",
    "tests.fixtures.nfc",
    "tests.fixtures.zkteco",
]


def _backends() -> list[str]:
    backends = ["sqlite"]
    if os.environ.get(POSTGRES_URL_ENV):
        backends.append("postgresql")
    return backends


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a fresh SQLite file, or a private PostgreSQL schema.

    The PostgreSQL leg gives each test its own schema (dropped afterwards) so tests may run in
    parallel against one server.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    base_url = os.environ[POSTGRES_URL_ENV]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on an empty database with the gateway's schema created."""
    eng = make_engine(db_url)
    create_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def corpus() -> Path:
    """Golden captures and published test vectors (see ``tests/corpus/README.md``)."""
    return CORPUS
