"""Creating the schema. Provisional: becomes an Alembic ``upgrade head`` once migrations exist."""

from __future__ import annotations

from sqlalchemy import Engine

from gateway.db.base import Base

__all__ = ["create_schema"]


def create_schema(engine: Engine) -> None:
    """Create every table of the gateway in ``engine``'s database (idempotent)."""
    _import_models()
    Base.metadata.create_all(engine)


def _import_models() -> None:
    """Import every module that defines tables so they register on ``Base.metadata``."""
    import importlib

    for name in ("gateway.db.models", "gateway.outbox.tables"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # pragma: no cover - only while modules are being built
            if exc.name != name:
                raise
