"""Patrol checkpoints, routes, guard PINs and cards, scan and punch history, patrol and
attendance rule state; reader and terminal settings on devices.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attendance_states",
        sa.Column("shift_id", sa.String(length=160), nullable=False),
        sa.Column("guard_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("next_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shift_id", name=op.f("pk_attendance_states")),
    )
    op.create_index(
        op.f("ix_attendance_states_guard_id"), "attendance_states", ["guard_id"], unique=False
    )
    op.create_index(
        op.f("ix_attendance_states_next_deadline"),
        "attendance_states",
        ["next_deadline"],
        unique=False,
    )
    op.create_table(
        "patrol_states",
        sa.Column("machine_id", sa.String(length=255), nullable=False),
        sa.Column("shift_id", sa.String(length=160), nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("next_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("machine_id", name=op.f("pk_patrol_states")),
    )
    op.create_index(
        op.f("ix_patrol_states_next_deadline"), "patrol_states", ["next_deadline"], unique=False
    )
    op.create_index(op.f("ix_patrol_states_shift_id"), "patrol_states", ["shift_id"], unique=False)
    op.create_table(
        "punches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("punched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("verify", sa.String(length=16), nullable=False),
        sa.Column("guard_id", sa.String(length=64), nullable=True),
        sa.Column("shift_id", sa.String(length=160), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_format", sa.String(length=32), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_punches")),
        sa.UniqueConstraint(
            "terminal_id", "person_id", "punched_at", "kind", name="uq_punches_identity"
        ),
    )
    op.create_index("ix_punches_guard_punched", "punches", ["guard_id", "punched_at"], unique=False)
    op.create_table(
        "scans",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("scan_key", sa.String(length=255), nullable=False),
        sa.Column("reader_id", sa.String(length=64), nullable=False),
        sa.Column("tag_id", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_id", sa.String(length=64), nullable=True),
        sa.Column("guard_id", sa.String(length=64), nullable=True),
        sa.Column("shift_id", sa.String(length=160), nullable=True),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("technology", sa.String(length=16), nullable=False),
        sa.Column("ndef_text", sa.Text(), nullable=True),
        sa.Column("source_format", sa.String(length=32), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
        sa.UniqueConstraint("scan_key", name=op.f("uq_scans_scan_key")),
    )
    op.create_index(
        "ix_scans_checkpoint_scanned", "scans", ["checkpoint_id", "scanned_at"], unique=False
    )
    op.create_index("ix_scans_reader_scanned", "scans", ["reader_id", "scanned_at"], unique=False)
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("post_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_checkpoints_post_id_posts")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_checkpoints_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoints")),
    )
    op.create_index(op.f("ix_checkpoints_site_id"), "checkpoints", ["site_id"], unique=False)
    op.create_table(
        "guard_credentials",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("guard_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["guard_id"], ["guards.id"], name=op.f("fk_guard_credentials_guard_id_guards")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_guard_credentials_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("site_id", "kind", "value", name=op.f("pk_guard_credentials")),
    )
    op.create_index(
        op.f("ix_guard_credentials_guard_id"), "guard_credentials", ["guard_id"], unique=False
    )
    op.create_table(
        "routes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("post_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ordered", sa.Boolean(), nullable=False),
        sa.Column("every_s", sa.Float(), nullable=True),
        sa.Column("offset_s", sa.Float(), nullable=False),
        sa.Column("times", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_routes_post_id_posts")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_routes_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
    )
    op.create_index(op.f("ix_routes_post_id"), "routes", ["post_id"], unique=False)
    op.create_index(op.f("ix_routes_site_id"), "routes", ["site_id"], unique=False)
    op.create_table(
        "checkpoint_tags",
        sa.Column("tag_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.id"],
            name=op.f("fk_checkpoint_tags_checkpoint_id_checkpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_checkpoint_tags_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("tag_id", name=op.f("pk_checkpoint_tags")),
    )
    op.create_index(
        op.f("ix_checkpoint_tags_checkpoint_id"), "checkpoint_tags", ["checkpoint_id"], unique=False
    )
    op.create_index(
        op.f("ix_checkpoint_tags_site_id"), "checkpoint_tags", ["site_id"], unique=False
    )
    op.create_table(
        "route_checkpoints",
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_id", sa.String(length=64), nullable=False),
        sa.Column("window_start_s", sa.Float(), nullable=False),
        sa.Column("window_end_s", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.id"],
            name=op.f("fk_route_checkpoints_checkpoint_id_checkpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["route_id"], ["routes.id"], name=op.f("fk_route_checkpoints_route_id_routes")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_route_checkpoints_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("route_id", "position", name=op.f("pk_route_checkpoints")),
    )
    op.create_index(
        op.f("ix_route_checkpoints_site_id"), "route_checkpoints", ["site_id"], unique=False
    )
    op.add_column("devices", sa.Column("url", sa.String(length=200), nullable=True))
    op.add_column("devices", sa.Column("variant", sa.String(length=32), nullable=True))
    op.add_column("devices", sa.Column("serial_number", sa.String(length=64), nullable=True))
    op.add_column("devices", sa.Column("timezone", sa.String(length=64), nullable=True))
    op.add_column("devices", sa.Column("punch_kind", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("punch_kind")
        batch.drop_column("timezone")
        batch.drop_column("serial_number")
        batch.drop_column("variant")
        batch.drop_column("url")
    op.drop_index(op.f("ix_route_checkpoints_site_id"), table_name="route_checkpoints")
    op.drop_table("route_checkpoints")
    op.drop_index(op.f("ix_checkpoint_tags_site_id"), table_name="checkpoint_tags")
    op.drop_index(op.f("ix_checkpoint_tags_checkpoint_id"), table_name="checkpoint_tags")
    op.drop_table("checkpoint_tags")
    op.drop_index(op.f("ix_routes_site_id"), table_name="routes")
    op.drop_index(op.f("ix_routes_post_id"), table_name="routes")
    op.drop_table("routes")
    op.drop_index(op.f("ix_guard_credentials_guard_id"), table_name="guard_credentials")
    op.drop_table("guard_credentials")
    op.drop_index(op.f("ix_checkpoints_site_id"), table_name="checkpoints")
    op.drop_table("checkpoints")
    op.drop_index("ix_scans_reader_scanned", table_name="scans")
    op.drop_index("ix_scans_checkpoint_scanned", table_name="scans")
    op.drop_table("scans")
    op.drop_index("ix_punches_guard_punched", table_name="punches")
    op.drop_table("punches")
    op.drop_index(op.f("ix_patrol_states_shift_id"), table_name="patrol_states")
    op.drop_index(op.f("ix_patrol_states_next_deadline"), table_name="patrol_states")
    op.drop_table("patrol_states")
    op.drop_index(op.f("ix_attendance_states_next_deadline"), table_name="attendance_states")
    op.drop_index(op.f("ix_attendance_states_guard_id"), table_name="attendance_states")
    op.drop_table("attendance_states")
