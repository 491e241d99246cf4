"""The patrol and attendance tables: checkpoints, their tags, routes, guards' PINs and cards
(configuration), and scans, punches and the patrol and attendance machines' states (ledger and
rule state). Re-exported by ``gateway.db.models``; see its docstring for the two families.
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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import ID_LENGTH, Base, BigId, UtcDateTime

__all__ = [
    "AttendanceStateRow",
    "CheckpointRow",
    "CheckpointTagRow",
    "GuardCredentialRow",
    "PatrolStateRow",
    "PunchRow",
    "RouteCheckpointRow",
    "RouteRow",
    "ScanRow",
    "TagAliasRow",
    "WandDownloadRow",
]


# --- patrol checkpoints and attendance (configuration) ------------------------------------------


class CheckpointRow(Base):
    """A patrol checkpoint (巡更点) at a post; its tags are in ``checkpoint_tags``."""

    __tablename__ = "checkpoints"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    post_id: Mapped[str] = mapped_column(ForeignKey("posts.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)


class CheckpointTagRow(Base):
    """A tag fixed at a checkpoint; a tag id (normalised as the site file does) is unique
    across the gateway, so a scan names one checkpoint."""

    __tablename__ = "checkpoint_tags"

    tag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    checkpoint_id: Mapped[str] = mapped_column(
        ForeignKey("checkpoints.id"), nullable=False, index=True
    )


class RouteRow(Base):
    """A patrol route at a post: ordered or not, and its round schedule.

    ``every_s``/``offset_s`` (rounds every so often from the shift start) or ``times`` (local
    times of day ``HH:MM``), exactly one of them.
    """

    __tablename__ = "routes"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    post_id: Mapped[str] = mapped_column(ForeignKey("posts.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    ordered: Mapped[bool] = mapped_column(Boolean, nullable=False)
    every_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    offset_s: Mapped[float] = mapped_column(Float, nullable=False)
    times: Mapped[list[str]] = mapped_column(JSON, nullable=False)


class RouteCheckpointRow(Base):
    """One checkpoint of a route, at ``position`` (from 0), with its window in the round."""

    __tablename__ = "route_checkpoints"

    route_id: Mapped[str] = mapped_column(ForeignKey("routes.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    checkpoint_id: Mapped[str] = mapped_column(
        ForeignKey("checkpoints.id"), nullable=False, index=True
    )
    window_start_s: Mapped[float] = mapped_column(Float, nullable=False)
    window_end_s: Mapped[float] = mapped_column(Float, nullable=False)


class GuardCredentialRow(Base):
    """How a terminal names a guard: ``kind`` ``pin`` (the clock-in terminal's user id) or
    ``card`` (a card id a reader sees); unique per site and kind."""

    __tablename__ = "guard_credentials"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    guard_id: Mapped[str] = mapped_column(ForeignKey("guards.id"), nullable=False, index=True)


class TagAliasRow(Base):
    """A checkpoint tag's or guard's card's EM4100 id (``tag_id``, as in ``checkpoint_tags``
    or ``guard_credentials``) in a short form (``form``: ``decimal``, ``wiegand26``) that a
    reader of the site delivers (``gateway.site.tag_forms``), written by the site load: a read
    ``alias`` in that form at that site names the checkpoint or the guard (exactly one of
    ``checkpoint_id`` and ``guard_id`` is set). Several rows for one read name several owners:
    the read is ambiguous and names none."""

    __tablename__ = "tag_aliases"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    form: Mapped[str] = mapped_column(String(16), primary_key=True)
    alias: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    checkpoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("checkpoints.id"), nullable=True, index=True
    )
    guard_id: Mapped[str | None] = mapped_column(ForeignKey("guards.id"), nullable=True, index=True)


# --- patrol checkpoints and attendance (ledger and rule state) ----------------------------------


class ScanRow(Base):
    """Scan history: every checkpoint scan kept as evidence, known tag or not.

    ``scan_key`` dedupes: ``reader|tag|time`` for a live reader, the wand record's key for a
    wand (stable across repeated downloads). ``checkpoint_id`` is null for an unknown tag.
    """

    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scan_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    reader_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    tag_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    checkpoint_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    guard_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    shift_id: Mapped[str | None] = mapped_column(String(160), nullable=True)
    scanned_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    technology: Mapped[str] = mapped_column(String(16), nullable=False)
    ndef_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_format: Mapped[str] = mapped_column(String(32), nullable=False)
    raw: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        Index("ix_scans_checkpoint_scanned", "checkpoint_id", "scanned_at"),
        Index("ix_scans_reader_scanned", "reader_id", "scanned_at"),
    )


class PunchRow(Base):
    """Punch history: every attendance record, stored once per terminal, person, time and kind
    (a terminal pushing its log again adds nothing). ``guard_id`` is null for an unknown person."""

    __tablename__ = "punches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    terminal_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    person_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    punched_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    verify: Mapped[str] = mapped_column(String(16), nullable=False)
    guard_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    shift_id: Mapped[str | None] = mapped_column(String(160), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    source_format: Mapped[str] = mapped_column(String(32), nullable=False)
    raw: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        UniqueConstraint(
            "terminal_id", "person_id", "punched_at", "kind", name="uq_punches_identity"
        ),
        Index("ix_punches_guard_punched", "guard_id", "punched_at"),
    )


class WandDownloadRow(Base):
    """When each offline patrol wand was last downloaded: its log held every scan it made
    before then. Every process reads it to tell the patrol machines it holds that their
    rounds can be judged (``gateway.pipeline.relay``)."""

    __tablename__ = "wand_downloads"

    wand_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    downloaded_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class PatrolStateRow(Base):
    """The persisted patrol machine of one route over one shift (``<shift id>/<route id>``)."""

    __tablename__ = "patrol_states"

    machine_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    shift_id: Mapped[str] = mapped_column(String(160), nullable=False, index=True)
    route_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    next_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class AttendanceStateRow(Base):
    """The persisted attendance machine of one shift."""

    __tablename__ = "attendance_states"

    shift_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    guard_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False, index=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    next_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
