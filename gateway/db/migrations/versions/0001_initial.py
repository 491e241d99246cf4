"""Initial schema: configuration, ledger, rule state, position history, alerts and outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 20:29:21.588562
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("alert_key", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("guard_id", sa.String(length=64), nullable=False),
        sa.Column("shift_id", sa.String(length=160), nullable=True),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("post_id", sa.String(length=64), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("last_event_id", sa.String(length=36), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("alert_key", name=op.f("uq_alerts_alert_key")),
    )
    op.create_index("ix_alerts_guard_opened", "alerts", ["guard_id", "opened_at"], unique=False)
    op.create_index("ix_alerts_status_opened", "alerts", ["status", "opened_at"], unique=False)

    op.create_table(
        "leaves",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("guard_id", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destination", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaves")),
    )
    op.create_index("ix_leaves_guard_starts", "leaves", ["guard_id", "starts_at"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("destination", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_pending", "outbox", ["destination", "delivered_at", "seq"], unique=False
    )
    op.create_index(
        "uq_outbox_event_destination", "outbox", ["event_id", "destination"], unique=True
    )

    op.create_table(
        "positions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("guard_id", sa.String(length=64), nullable=True),
        sa.Column("shift_id", sa.String(length=160), nullable=True),
        sa.Column("fix_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("speed_mps", sa.Float(), nullable=True),
        sa.Column("course_deg", sa.Float(), nullable=True),
        sa.Column("altitude_m", sa.Float(), nullable=True),
        sa.Column("satellites", sa.Integer(), nullable=True),
        sa.Column("battery_pct", sa.Float(), nullable=True),
        sa.Column("alarms", sa.JSON(), nullable=False),
        sa.Column("source_format", sa.String(length=32), nullable=False),
        sa.Column("membership", sa.String(length=16), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("drop_reason", sa.String(length=32), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
    )
    op.create_index(
        "ix_positions_device_fix_time", "positions", ["device_id", "fix_time"], unique=False
    )
    op.create_index(
        "ix_positions_guard_fix_time", "positions", ["guard_id", "fix_time"], unique=False
    )

    op.create_table(
        "presence_states",
        sa.Column("shift_id", sa.String(length=160), nullable=False),
        sa.Column("guard_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("next_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shift_id", name=op.f("pk_presence_states")),
    )
    op.create_index(
        op.f("ix_presence_states_guard_id"), "presence_states", ["guard_id"], unique=False
    )
    op.create_index(
        op.f("ix_presence_states_next_deadline"), "presence_states", ["next_deadline"], unique=False
    )

    op.create_table(
        "reports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("guard_id", sa.String(length=64), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected_return_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("destination", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reported_to", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    op.create_index(
        "ix_reports_guard_reported", "reports", ["guard_id", "reported_at"], unique=False
    )

    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("roster", sa.JSON(), nullable=False),
        sa.Column("source_digest", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    op.create_table(
        "guards",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("leader_ids", sa.JSON(), nullable=False),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_guards_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guards")),
    )
    op.create_index(op.f("ix_guards_site_id"), "guards", ["site_id"], unique=False)

    op.create_table(
        "leaders",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_leaders_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaders")),
    )
    op.create_index(op.f("ix_leaders_site_id"), "leaders", ["site_id"], unique=False)

    op.create_table(
        "posts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("fence", sa.JSON(), nullable=False),
        sa.Column("datum", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_posts_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
    )
    op.create_index(op.f("ix_posts_site_id"), "posts", ["site_id"], unique=False)

    op.create_table(
        "devices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("guard_id", sa.String(length=64), nullable=True),
        sa.Column("post_id", sa.String(length=64), nullable=True),
        sa.Column("secret_ref", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["guard_id"], ["guards.id"], name=op.f("fk_devices_guard_id_guards")
        ),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_devices_post_id_posts")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_devices_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
    )
    op.create_index(op.f("ix_devices_guard_id"), "devices", ["guard_id"], unique=False)
    op.create_index(op.f("ix_devices_site_id"), "devices", ["site_id"], unique=False)

    op.create_table(
        "shifts",
        sa.Column("id", sa.String(length=160), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("guard_id", sa.String(length=64), nullable=False),
        sa.Column("post_id", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["guard_id"], ["guards.id"], name=op.f("fk_shifts_guard_id_guards")
        ),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_shifts_post_id_posts")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_shifts_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shifts")),
    )
    op.create_index("ix_shifts_guard_starts", "shifts", ["guard_id", "starts_at"], unique=False)
    op.create_index(op.f("ix_shifts_site_id"), "shifts", ["site_id"], unique=False)
    op.create_index("ix_shifts_window", "shifts", ["starts_at", "ends_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_shifts_window", table_name="shifts")
    op.drop_index(op.f("ix_shifts_site_id"), table_name="shifts")
    op.drop_index("ix_shifts_guard_starts", table_name="shifts")

    op.drop_table("shifts")
    op.drop_index(op.f("ix_devices_site_id"), table_name="devices")
    op.drop_index(op.f("ix_devices_guard_id"), table_name="devices")

    op.drop_table("devices")
    op.drop_index(op.f("ix_posts_site_id"), table_name="posts")

    op.drop_table("posts")
    op.drop_index(op.f("ix_leaders_site_id"), table_name="leaders")

    op.drop_table("leaders")
    op.drop_index(op.f("ix_guards_site_id"), table_name="guards")

    op.drop_table("guards")
    op.drop_table("sites")
    op.drop_index("ix_reports_guard_reported", table_name="reports")

    op.drop_table("reports")
    op.drop_index(op.f("ix_presence_states_next_deadline"), table_name="presence_states")
    op.drop_index(op.f("ix_presence_states_guard_id"), table_name="presence_states")

    op.drop_table("presence_states")
    op.drop_index("ix_positions_guard_fix_time", table_name="positions")
    op.drop_index("ix_positions_device_fix_time", table_name="positions")

    op.drop_table("positions")
    op.drop_index("uq_outbox_event_destination", table_name="outbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")

    op.drop_table("outbox")
    op.drop_index("ix_leaves_guard_starts", table_name="leaves")

    op.drop_table("leaves")
    op.drop_index("ix_alerts_status_opened", table_name="alerts")
    op.drop_index("ix_alerts_guard_opened", table_name="alerts")

    op.drop_table("alerts")
