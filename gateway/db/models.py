"""The gateway's tables (SQLAlchemy 2.0 typed models); every time column is ``UtcDateTime``.

Two families:

* **Configuration** (``sites``, ``leaders``, ``posts``, ``guards``, ``devices``, ``shifts``,
  ``checkpoints``, ``checkpoint_tags``, ``routes``, ``route_checkpoints``, ``guard_credentials``,
  ``tag_aliases``):
  written only by the site loader, replaced as a whole when a site file is loaded again. Ids
  are chosen by the site file and are unique across the whole gateway.
* **Ledger and runtime** (``reports``, ``leaves``, ``presence_states``, ``positions``, ``alerts``,
  ``scans``, ``punches``, ``patrol_states``, ``attendance_states``, ``wand_downloads``):
  evidence and rule state. They name guards, shifts and devices by id **without foreign keys**, so
  reloading a site or removing a guard from it never deletes or blocks the recorded history.

JSON columns use the generic ``JSON`` type (``json`` on PostgreSQL, text on SQLite). The patrol
and attendance tables live in ``gateway.db.patrol_models`` and are re-exported here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import ID_LENGTH, Base, BigId, UtcDateTime
from gateway.db.patrol_models import (
    AttendanceStateRow,
    CheckpointRow,
    CheckpointTagRow,
    GuardCredentialRow,
    PatrolStateRow,
    PunchRow,
    RouteCheckpointRow,
    RouteRow,
    ScanRow,
    TagAliasRow,
    WandDownloadRow,
)

__all__ = [
    "ID_LENGTH",
    "NOTE_LENGTH",
    "AlertRow",
    "AttendanceStateRow",
    "CheckpointRow",
    "CheckpointTagRow",
    "DeviceRow",
    "GuardCredentialRow",
    "GuardRow",
    "LeaderRow",
    "LeaveRow",
    "PatrolStateRow",
    "PositionRow",
    "PostRow",
    "PresenceStateRow",
    "PunchRow",
    "ReportRow",
    "RouteCheckpointRow",
    "RouteRow",
    "ScanRow",
    "ShiftRow",
    "SiteRow",
    "TagAliasRow",
    "WandDownloadRow",
]


class SiteRow(Base):
    """A site (项目点): its time zone and the policy fields it overrides (the rest are defaults)."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    """Overrides of ``gateway.policy.SitePolicy`` fields, by field name."""
    roster: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    """The weekly/daily roster entries as loaded, so shifts can be expanded further later."""
    source_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    """SHA-256 of the site file this configuration came from."""
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class LeaderRow(Base):
    """A squad or team leader (班长/队长) receiving alerts; ``contacts``: channel → address."""

    __tablename__ = "leaders"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    contacts: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False)
    reports_to: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    """The leader (of the same site) one level up: an alert of this leader's guards left
    unacknowledged is escalated to him (``gateway.pipeline.escalation``)."""


class PostRow(Base):
    """A post (岗位): its fence exactly as drawn (GeoJSON or circle) and the datum of it."""

    __tablename__ = "posts"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    """``fixed`` or ``patrol``."""
    fence: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    datum: Mapped[str] = mapped_column(String(8), nullable=False)
    """``wgs84``, ``gcj02`` or ``bd09``: the datum of ``fence``'s coordinates."""


class GuardRow(Base):
    """A guard (保安员); ``leader_ids`` are the leaders alerted about him (empty: his team's)."""

    __tablename__ = "guards"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    leader_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    contacts: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False)


ADDRESSES_LENGTH = 720
"""Room for a device's ``addresses``: the site file allows 16 networks (``gateway.site.schema``),
an IPv6 one in CIDR form takes 43 characters, and a space separates them."""


class DeviceRow(Base):
    """A device: GPS terminal (bound to one guard), checkpoint reader or clock-in terminal.

    ``secret_ref`` names where the device's credentials are kept (e.g. ``env:GPS_001_KEY``); the
    secret itself is never stored here.
    """

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    guard_id: Mapped[str | None] = mapped_column(ForeignKey("guards.id"), nullable=True, index=True)
    post_id: Mapped[str | None] = mapped_column(ForeignKey("posts.id"), nullable=True, index=True)
    secret_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    url: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """How to reach a reader or terminal (``tty:USB0:pn532``, ``/dev/ttyUSB0``, ``socket://...``)."""
    variant: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The reader's frame format (e.g. ``rdm6300``) where a kind has several."""
    serial_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The serial number a push terminal (ZKTeco ``SN``) identifies itself with."""
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """Time zone of the device's clock when it sends local times (default: the site's)."""
    punch_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """For a card reader acting as a clock-in terminal: the punch kind each card read makes."""
    addresses: Mapped[str | None] = mapped_column(String(ADDRESSES_LENGTH), nullable=True)
    """A PUSH terminal's site file ``address``: the networks it speaks from, in CIDR form,
    separated by spaces (``192.168.10.21/32 192.168.20.0/28``); ``None``: any address."""


class ShiftRow(Base):
    """One concrete shift: a guard on a post over ``[starts_at, ends_at)`` (UTC).

    The id is derived from guard, post and start, so loading the same roster again yields the same
    ids and the presence state of a running shift survives a reload.

    A shift that has ended is a record (the ledger's, kept ``records_days``): a site load keeps
    it even when the file no longer names its guard or post, so ``guard_id`` and ``post_id``
    are plain ids, as in positions and alerts, not foreign keys (migration 0015).
    """

    __tablename__ = "shifts"

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    guard_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    post_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False, index=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    cut_short: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    """Ended at ``ends_at`` by a site load that moved the guard or changed this shift while
    it was under way: the record of the part that happened, whose rules end there as at a
    relief (``gateway.site.shift_writes``, ``PresenceMachines.relieve``)."""
    known_from: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """When the gateway learned of this shift, if after it began (a site's first load during
    it): the rules count their graces and rounds from here, not from ``starts_at``, which
    stays the roster's for the record (migration 0016). Null for every other shift."""
    kept_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """What the duty of this shift needs of its guard, its post and their devices, kept by the
    site load that took the guard or the post out of the file after the shift began
    (``gateway.db.kept_config``): the roster index builds the duty from it, since the rows it
    came from are gone, so the rules still decide what the shift owes, whether a gateway ran
    at the load or started after it (migration 0018). Null for every other shift."""

    __table_args__ = (
        Index("ix_shifts_guard_starts", "guard_id", "starts_at"),
        Index("ix_shifts_window", "starts_at", "ends_at"),
        Index("ix_shifts_ends", "ends_at"),
    )


class ReportRow(Base):
    """A verbal report (口头报备) of a short departure: where to, why, when back."""

    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    guard_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expected_return_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    destination: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reported_to: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    __table_args__ = (Index("ix_reports_guard_reported", "guard_id", "reported_at"),)


class LeaveRow(Base):
    """An approved leave (请假) and its cancellation (销假); ``status`` approved|cancelled."""

    __tablename__ = "leaves"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    guard_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    destination: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    approved_by: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    approved_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (Index("ix_leaves_guard_starts", "guard_id", "starts_at"),)


class PresenceStateRow(Base):
    """The persisted state of the presence rules for one shift, with its next timer deadline."""

    __tablename__ = "presence_states"

    shift_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    guard_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False, index=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    next_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class PositionRow(Base):
    """Position history: every fix kept as evidence, with what the geofence stage made of it.

    ``guard_id``/``shift_id`` are null for fixes outside any duty; ``drop_reason`` is set when a
    filter discarded the fix before the rules (``None``: it reached them).

    A device is in one place at one instant: ``(device_id, fix_time)`` is unique, so a fix
    delivered again (a QoS 1 redelivery, a re-sent offline batch, a restart that forgot the
    filters' memory) is stored once, whatever the process remembers.
    """

    __tablename__ = "positions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    guard_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    shift_id: Mapped[str | None] = mapped_column(String(160), nullable=True)
    fix_time: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    speed_mps: Mapped[float | None] = mapped_column(Float, nullable=True)
    course_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    altitude_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    satellites: Mapped[int | None] = mapped_column(Integer, nullable=True)
    battery_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    alarms: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    source_format: Mapped[str] = mapped_column(String(32), nullable=False)
    membership: Mapped[str | None] = mapped_column(String(16), nullable=True)
    distance_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    drop_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    raw: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        Index("ix_positions_guard_fix_time", "guard_id", "fix_time"),
        Index("uq_positions_device_fix_time", "device_id", "fix_time", unique=True),
        Index("ix_positions_fix_time", "fix_time"),  # the retention purge's range scan
    )


NOTE_LENGTH = 1000
"""Longest note a leader writes when acknowledging or resolving an alert."""


class AlertRow(Base):
    """One alert per episode (``alert_key``): open → acknowledged (who, when, a note) → resolved
    (how: ``resolution``; by hand with a note); escalated at most once while unacknowledged."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    guard_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    shift_id: Mapped[str | None] = mapped_column(String(160), nullable=True)
    site_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    post_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    acknowledged_by: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_note: Mapped[str | None] = mapped_column(String(NOTE_LENGTH), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """``ended`` (the condition ended: the guard returned, arrived...), ``withdrawn`` (a later
    fact showed the alert wrong, e.g. a report entered late), ``by_hand``; ``None`` while open."""
    resolved_note: Mapped[str | None] = mapped_column(String(NOTE_LENGTH), nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """When the alert, still unacknowledged, was escalated; set once, so never escalated twice."""
    escalated_to: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    """The leader ids it was escalated to (empty: nobody named above the guard's leaders)."""
    last_event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (
        Index("ix_alerts_status_opened", "status", "opened_at"),
        Index("ix_alerts_guard_opened", "guard_id", "opened_at"),
    )
