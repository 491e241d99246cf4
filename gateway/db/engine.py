"""Opening the database: one function, used by the CLI, the service and the tests."""

from __future__ import annotations

import json
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from gateway.db.wal_checkpoint import BACKSTOP_PAGES

__all__ = ["database_url_problem", "make_engine", "read_json_column", "write_json_column"]


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL (its automatic checkpoint a backstop:
    ``gateway.db.wal_checkpoint``), foreign keys and a busy timeout.

    JSON columns (rule states, alert data, site files) are written and read with orjson: every
    fix and every event saves a state, and a shift change writes tens of thousands at once.
    """
    kwargs.setdefault("json_serializer", write_json_column)
    kwargs.setdefault("json_deserializer", read_json_column)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


_KINDS = (
    "give sqlite:///PATH (sqlite:////ABSOLUTE/PATH) or "
    "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE (psycopg: guard-gateway[postgres])"
)


def database_url_problem(url: str) -> str | None:
    """Why no engine can be made from ``url`` (not a URL, a database kind SQLAlchemy does not
    know, a driver not installed), or ``None``. Connecting is not tried: an unreachable
    server is a state the gateway waits out, a URL it cannot use is a mistake to say at once.
    The URL itself is never repeated: it may hold a password."""
    try:
        dialect = make_url(url).get_dialect()
    except NoSuchModuleError:  # before ArgumentError, of which it is a kind
        return f"unknown database kind {make_url(url).drivername!r}; {_KINDS}"
    except ArgumentError:
        return f"not a database URL; {_KINDS}"
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        return f"the driver of {make_url(url).drivername!r} is not installed ({exc}); {_KINDS}"
    return None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A backstop only: a running gateway checkpoints on a thread of its own (wal_checkpoint).
    cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    cursor.close()


def write_json_column(value: Any) -> str:
    """A JSON column's text: compact, UTF-8; NaN and the infinities are written as null (the
    standard encoder wrote ``NaN``, which no JSON reader, PostgreSQL's included, accepts)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    except orjson.JSONEncodeError:  # integers past 64 bits: the standard encoder writes them
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def read_json_column(text: str | bytes) -> Any:
    """A JSON column's value; text an earlier version wrote with ``NaN`` in it still reads."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
