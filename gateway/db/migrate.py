"""Running the Alembic migrations from code: ``upgrade(engine)`` and ``current(engine)``.

The Alembic configuration is built here rather than read from an ``alembic.ini``, with
``script_location`` resolved from this package's path, so an installed wheel migrates its database
exactly like a checkout does.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData

from gateway.db.base import Base

__all__ = ["MODEL_MODULES", "alembic_config", "current", "head", "target_metadata", "upgrade"]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

MODEL_MODULES = (
    "gateway.db.models",
    "gateway.db.auth_models",
    "gateway.db.quarantine",
    "gateway.outbox.tables",
    "gateway.cluster.tables",
)
"""Every module defining tables; a new table module must be listed here and get a migration."""


def target_metadata() -> MetaData:
    """The gateway's full metadata, with every model module imported."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


def alembic_config() -> Config:
    """An Alembic ``Config`` for the gateway's migrations, independent of the working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate ``engine``'s database to ``revision`` (default: the newest), in one transaction."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    logger.info("database migrated to %s", revision)


def current(engine: Engine) -> str | None:
    """The revision ``engine``'s database is at, or ``None`` for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str | None:
    """The newest revision shipped with this version of the gateway."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
