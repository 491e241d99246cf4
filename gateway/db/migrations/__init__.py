"""Alembic migrations of the gateway's schema; run them with ``gateway.db.migrate.upgrade``."""
