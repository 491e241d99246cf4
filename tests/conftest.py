"""Shared fixtures: databases (SQLite always, PostgreSQL when its URL is set) and corpus paths."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text

from gateway.db.engine import make_engine
from gateway.db.schema import create_schema

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
POSTGRES_URL_ENV = "GATEWAY_TEST_POSTGRES_URL"

# Property tests judge behaviour, not speed: a wall-time deadline per example fails them on a
# shared machine whose other work (PostgreSQL, a broker, another test run) takes the cores.
settings.register_profile("gateway", deadline=None)
settings.load_profile("gateway")

pytest_plugins = [
    "tests.fixtures.holder_api",
    "tests.fixtures.live_gateway",
    "tests.fixtures.mqtt",
    "tests.fixtures.nfc",
    "tests.fixtures.zkteco",
    "tests.fixtures.cluster_nodes",
]


@pytest.fixture(autouse=True, scope="session")
def _private_lock_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Gateways started by the tests (in this process or as ``guard-gateway run`` processes)
    keep their readers' and terminals' locks in this run's own directory (``GATEWAY_LOCK_DIR``),
    not in the host's: nothing is shared with a gateway running beside the tests, or another
    run, and nothing is left behind in the host's directory."""
    previous = os.environ.get("GATEWAY_LOCK_DIR")
    os.environ["GATEWAY_LOCK_DIR"] = str(tmp_path_factory.mktemp("locks"))
    yield
    if previous is None:
        del os.environ["GATEWAY_LOCK_DIR"]
    else:
        os.environ["GATEWAY_LOCK_DIR"] = previous


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
