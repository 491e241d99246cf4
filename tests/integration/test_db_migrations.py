"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select, text, update
from sqlalchemy.orm import Session

from gateway.db.migrate import alembic_config, current, head, target_metadata, upgrade
from gateway.db.models import ShiftRow, TagAliasRow
from gateway.outbox.tables import OutboxRow
from gateway.outbox.writer import enqueue
from gateway.samples import WUHAN_SITE
from gateway.site import load_site_file


def _diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True}
        )
        return list(compare_metadata(context, target_metadata()))


def test_upgraded_database_matches_the_models_with_no_autogenerate_diff(engine: Engine) -> None:
    assert _diff(engine) == []


def test_upgrade_records_the_head_revision_and_is_idempotent(engine: Engine) -> None:
    assert head() == "0023"
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
    assert current(engine) == head() and _diff(engine) == []


def _unindexed_foreign_keys(engine: Engine) -> list[str]:
    """``table.column`` of each foreign key whose first column leads no index, primary key or
    unique constraint of its table."""
    found = inspect(engine)
    out = []
    for table in found.get_table_names():
        leading = {tuple(found.get_pk_constraint(table)["constrained_columns"])[:1]}
        leading |= {tuple(ix["column_names"])[:1] for ix in found.get_indexes(table)}
        leading |= {tuple(uq["column_names"])[:1] for uq in found.get_unique_constraints(table)}
        for fk in found.get_foreign_keys(table):
            if tuple(fk["constrained_columns"])[:1] not in leading:
                out.append(f"{table}.{fk['constrained_columns'][0]}")
    return sorted(out)


def test_every_foreign_key_is_indexed_so_a_site_load_deletes_by_index(engine: Engine) -> None:
    # A parent row deleted (a site load replaces its posts) is checked against each referring
    # table: by index, or by reading the whole table for every row deleted.
    assert _unindexed_foreign_keys(engine) == []
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0013")
    assert _unindexed_foreign_keys(engine) == [
        "checkpoints.post_id",
        "devices.post_id",
        "route_checkpoints.checkpoint_id",
        "shifts.post_id",
    ]
    upgrade(engine)
    assert current(engine) == head() and _diff(engine) == []


def _shift_keys(engine: Engine) -> set[str]:
    return {fk["referred_table"] for fk in inspect(engine).get_foreign_keys("shifts")} - {"sites"}


def test_migration_0015_frees_shifts_from_guards_and_posts_and_back(engine: Engine) -> None:
    load_site_file(WUHAN_SITE, engine, datetime(2026, 3, 2, 3, 0, tzinfo=UTC))
    at = datetime(2026, 2, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(  # an ended shift of a guard and post since dropped
            insert(ShiftRow).values(
                id="g-099/old-post/20260201T000000Z",
                site_id="wh-jiangtan-garden",
                guard_id="g-099",
                post_id="old-post",
                starts_at=at,
                ends_at=at + timedelta(hours=8),
            )
        )
        conn.execute(  # one a load cut short: the older gateway would run its rules again
            insert(ShiftRow).values(
                id="g-001/jt-gate-north/20260201T000000Z",
                site_id="wh-jiangtan-garden",
                guard_id="g-001",
                post_id="jt-gate-north",
                starts_at=at,
                ends_at=at + timedelta(hours=2),
                cut_short=True,
            )
        )
    assert _shift_keys(engine) == set()
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0014")
    # The older schema cannot hold those shifts: they go, the roster's 90 stay, the keys return.
    assert _shift_keys(engine) == {"guards", "posts"}
    with engine.connect() as conn:
        ids = set(conn.scalars(select(ShiftRow.id)))
    assert len(ids) == 90 and "g-099/old-post/20260201T000000Z" not in ids
    assert "g-001/jt-gate-north/20260201T000000Z" not in ids
    upgrade(engine)
    assert _shift_keys(engine) == set() and current(engine) == head() and _diff(engine) == []


def test_migration_0017_adds_the_wands_downloads_and_back(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0016")
    assert "wand_downloads" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "wand_downloads" in inspect(engine).get_table_names() and _diff(engine) == []


def test_migration_0021_adds_the_settings_a_node_shares_and_back(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0020")
    columns = {c["name"] for c in inspect(engine).get_columns("cluster_nodes")}
    assert "shared_settings" not in columns and "api_url" in columns
    upgrade(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("cluster_nodes")}
    assert "shared_settings" in columns and _diff(engine) == []


def test_migration_0022_sets_refused_events_aside_and_back_keeping_every_row(
    engine: Engine,
) -> None:
    """A downgrade turns a refused row into an ordinary undelivered one (retried again), and an
    upgrade starts with none refused: no row is lost either way."""
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        enqueue(
            session, key="k1", type="alert.left_early", subject="g-1", time=now, data={}, now=now
        )
        session.execute(update(OutboxRow).values(refused_at=now, attempts=1))
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0021")
    assert "refused_at" not in {c["name"] for c in inspect(engine).get_columns("outbox")}
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")).scalar()
            == 1
        )
    upgrade(engine)
    assert _diff(engine) == []
    with Session(engine) as session:
        [row] = session.scalars(select(OutboxRow)).all()
        assert (row.type, row.refused_at, row.delivered_at, row.attempts) == (
            "alert.left_early",
            None,
            None,
            1,
        )


def test_migration_0019_finds_the_short_forms_of_the_cards_already_stored_and_back(
    engine: Engine, tmp_path: Path
) -> None:
    site = {
        "id": "s-decimal",
        "name": "decimal gate",
        "posts": [
            {
                "id": "p-gate",
                "name": "gate",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.3, 30.6], "radius_m": 30},
            }
        ],
        "guards": [{"id": "g-1", "name": "one", "cards": ["0102B0A5FD", "04A2241A"]}],
        "devices": [
            {"id": "em-gate", "kind": "em4100_reader", "post": "p-gate", "variant": "decimal"}
        ],
        "checkpoints": [{"id": "cp-1", "name": "one", "post": "p-gate", "tags": ["01026F6C3A"]}],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"sites": [site]}), encoding="utf-8")
    load_site_file(path, engine, datetime(2026, 3, 2, 3, 0, tzinfo=UTC))
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0018")
    assert "tag_aliases" not in inspect(engine).get_table_names()
    upgrade(engine)  # an installation upgraded: its decimal reader's reads match at once
    assert _diff(engine) == []
    with engine.connect() as conn:
        rows = set(conn.execute(select(TagAliasRow.form, TagAliasRow.alias, TagAliasRow.tag_id)))
    assert rows == {  # the decimal forms only (no wiegand26 reader), of EM4100 ids only
        ("decimal", "0045131261", "0102B0A5FD"),
        ("decimal", "0040856634", "01026F6C3A"),
    }


def test_migration_0020_finds_the_short_forms_a_sites_wands_download_and_back(
    engine: Engine, tmp_path: Path
) -> None:
    site = {
        "id": "s-wand",
        "name": "wand patrol",
        "posts": [
            {
                "id": "p-yard",
                "name": "yard",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.3, 30.6], "radius_m": 30},
            }
        ],
        "guards": [{"id": "g-1", "name": "one", "cards": ["0102B0A5FD"]}],
        "devices": [
            {"id": "em-gate", "kind": "em4100_reader", "post": "p-yard", "variant": "decimal"},
            {"id": "wand-1", "kind": "patrol_wand", "guard": "g-1"},
        ],
        "checkpoints": [{"id": "cp-1", "name": "one", "post": "p-yard", "tags": ["01026F6C3A"]}],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"sites": [site]}), encoding="utf-8")
    load_site_file(path, engine, datetime(2026, 3, 2, 3, 0, tzinfo=UTC))

    def aliases() -> set[tuple[str, str, str]]:
        with engine.connect() as conn:
            rows = conn.execute(select(TagAliasRow.form, TagAliasRow.alias, TagAliasRow.tag_id))
            return {(form, alias, tag) for form, alias, tag in rows}

    decimal = {("decimal", "0045131261", "0102B0A5FD"), ("decimal", "0040856634", "01026F6C3A")}
    wiegand = {("wiegand26", "176:42493", "0102B0A5FD"), ("wiegand26", "111:27706", "01026F6C3A")}
    assert aliases() == decimal | wiegand  # the load: the wand's forms (both: no variant)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0019")
    assert aliases() == decimal  # the decimal reader's, as 0019 left them
    upgrade(engine)  # an installation upgraded: its wand's downloads match at once
    assert _diff(engine) == []
    assert aliases() == decimal | wiegand


def _shift_columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("shifts")}


def test_migration_0016_adds_when_a_shift_was_known_and_back(engine: Engine) -> None:
    # Loaded for the first time at 11:00 of the sample's 08:00 (local) day shifts.
    load_site_file(WUHAN_SITE, engine, datetime(2026, 3, 2, 3, 0, tzinfo=UTC))
    with engine.connect() as conn:
        known = set(
            conn.scalars(select(ShiftRow.known_from).where(ShiftRow.known_from.is_not(None)))
        )
    assert known == {datetime(2026, 3, 2, 3, 0, tzinfo=UTC)}
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0015")
    assert "known_from" not in _shift_columns(engine)
    with engine.connect() as conn:  # the shifts stay; only the column goes
        assert conn.execute(text("SELECT count(*) FROM shifts")).scalar_one() == 90
    upgrade(engine)
    assert "known_from" in _shift_columns(engine) and _diff(engine) == []


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
        "wand_downloads",
        "tag_aliases",
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


def test_migration_0018_adds_what_a_shift_keeps_of_a_guard_taken_out_and_back(
    engine: Engine,
) -> None:
    load_site_file(WUHAN_SITE, engine, datetime(2026, 3, 2, 3, 0, tzinfo=UTC))
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0017")
    assert "kept_config" not in _shift_columns(engine)
    with engine.connect() as conn:  # the shifts stay; only the column goes
        assert conn.execute(text("SELECT count(*) FROM shifts")).scalar_one() == 90
    upgrade(engine)
    assert "kept_config" in _shift_columns(engine) and _diff(engine) == []


def test_migration_0023_adds_and_drops_the_push_terminals_addresses(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0022")
    assert "addresses" not in {c["name"] for c in inspect(engine).get_columns("devices")}
    upgrade(engine)  # every terminal answered from anywhere until its site file says otherwise
    assert "addresses" in {c["name"] for c in inspect(engine).get_columns("devices")}
    assert _diff(engine) == []
