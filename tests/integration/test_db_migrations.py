"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from gateway.db.migrate import alembic_config, current, head, target_metadata, upgrade


def _diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True}
        )
        return list(compare_metadata(context, target_metadata()))


def test_upgraded_database_matches_the_models_with_no_autogenerate_diff(engine: Engine) -> None:
    assert _diff(engine) == []


def test_upgrade_records_the_head_revision_and_is_idempotent(engine: Engine) -> None:
    assert head() == "0013"
    assert current(engine) == head()
    upgrade(engine)
    assert current(engine) == head()


def test_migration_0003_adds_and_removes_how_an_alert_was_resolved(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    assert "resolution" not in {c["name"] for c in inspect(engine).get_columns("alerts")}
    upgrade(engine, "0003")
    assert current(engine) == "0003"
    assert "resolution" in {c["name"] for c in inspect(engine).get_columns("alerts")}


def test_migrations_0012_and_0013_relay_tables_downgrade_and_upgrade_again(
    engine: Engine,
) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0012")
    tables = inspect(engine).get_table_names()
    assert "relayed_scans" not in tables and "relayed_punches" in tables
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0011")
    assert "relayed_punches" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert current(engine) == "0013" and _diff(engine) == []


def test_migrations_create_the_outbox_and_every_model_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    expected = {
        "sites",
        "leaders",
        "posts",
        "guards",
        "devices",
        "shifts",
        "reports",
        "leaves",
        "presence_states",
        "positions",
        "alerts",
        "outbox",
        "checkpoints",
        "checkpoint_tags",
        "routes",
        "route_checkpoints",
        "guard_credentials",
        "scans",
        "punches",
        "patrol_states",
        "attendance_states",
        "robots",
        "api_tokens",
        "audit_log",
        "quarantine",
        "cluster_nodes",
        "cluster_partitions",
        "relayed_punches",
        "relayed_scans",
        "alembic_version",
    }
    assert tables == expected


def test_a_never_migrated_database_has_no_revision(db_url: str) -> None:
    from gateway.db.engine import make_engine

    eng = make_engine(db_url)
    try:
        assert current(eng) is None
    finally:
        eng.dispose()


def test_migration_0004_robots_downgrades_and_upgrades_again(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    assert "robots" not in set(inspect(engine).get_table_names())
    upgrade(engine)
    assert current(engine) == head()
    assert "robots" in set(inspect(engine).get_table_names())
