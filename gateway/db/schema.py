"""Creating the schema: an Alembic ``upgrade head`` on the engine's database."""

from __future__ import annotations

from sqlalchemy import Engine

from gateway.db.migrate import upgrade

__all__ = ["create_schema"]


def create_schema(engine: Engine) -> None:
    """Bring ``engine``'s database to the newest schema of the gateway (idempotent)."""
    upgrade(engine)
