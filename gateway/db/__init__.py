"""Persistence: SQLAlchemy 2.0 models and Alembic migrations (SQLite or PostgreSQL)."""
