"""The site file's shape (pydantic models): what each entry may hold and the types of its fields.

Only the *shape* is checked here (types, required fields, allowed words). Whether the parts fit
together (references, duplicate ids, fence geometry, overlapping shifts) is checked by
``gateway.site.checks`` so that every problem can be reported at once. ``docs/site-file.md``
describes every field.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

__all__ = [
    "WEEKDAYS",
    "CircleFence",
    "Contacts",
    "Datum",
    "DeviceEntry",
    "DeviceKind",
    "Fence",
    "GuardEntry",
    "LeaderEntry",
    "MultiPolygonFence",
    "PolygonFence",
    "PostEntry",
    "ShiftEntry",
    "SiteEntry",
    "SiteFile",
]

Id = Annotated[str, StringConstraints(pattern=r"^[\w.:-]{1,64}$")]
"""Letters (any script), digits, ``_ . : -``; at most 64 characters; unique across the gateway."""

Datum = Literal["wgs84", "gcj02", "bd09"]
DeviceKind = Literal["gps", "nfc_reader", "em4100_reader", "clock_in"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Position = Annotated[list[float], Field(min_length=2, max_length=3)]
"""A GeoJSON position: ``[lon, lat]`` (an altitude, if present, is ignored)."""
Ring = Annotated[list[Position], Field(min_length=3)]


class _Strict(BaseModel):
    """Unknown keys are refused: a misspelt field must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PolygonFence(_Strict):
    """A GeoJSON Polygon: an outer ring, then optional holes."""

    type: Literal["Polygon"]
    coordinates: Annotated[list[Ring], Field(min_length=1)]


class MultiPolygonFence(_Strict):
    """A GeoJSON MultiPolygon: a post made of several separate areas."""

    type: Literal["MultiPolygon"]
    coordinates: Annotated[list[Annotated[list[Ring], Field(min_length=1)]], Field(min_length=1)]


class CircleFence(_Strict):
    """A circle around ``center`` (``[lon, lat]``) of ``radius_m`` metres."""

    type: Literal["Circle"]
    center: Position
    radius_m: Annotated[float, Field(gt=0)]


Fence = Annotated[PolygonFence | MultiPolygonFence | CircleFence, Field(discriminator="type")]


class Contacts(_Strict):
    """Where a person is reached; every channel is optional."""

    wecom: str | None = None
    dingtalk: str | None = None
    phone: str | None = None
    email: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The channels that are set, by name."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class PostEntry(_Strict):
    id: Id
    name: str
    kind: Literal["fixed", "patrol"] = "fixed"
    datum: Datum
    """Required: a fence drawn on a Chinese map (GCJ-02/BD-09) is off by 0.6-1.2 km as WGS-84."""
    fence: Fence


class LeaderEntry(_Strict):
    id: Id
    name: str
    team: str | None = None
    contacts: Contacts = Contacts()


class GuardEntry(_Strict):
    id: Id
    name: str
    team: str | None = None
    leaders: list[Id] = []
    """Ids of the leaders alerted about this guard; empty means the leaders of his team."""
    contacts: Contacts = Contacts()


class DeviceEntry(_Strict):
    id: Id
    kind: DeviceKind
    guard: Id | None = None
    """The guard wearing this terminal (GPS); at most one GPS terminal per guard."""
    post: Id | None = None
    """The post a fixed reader or clock-in terminal stands at."""
    secret_ref: str | None = None
    """Where the credentials are kept (``env:NAME``, ``file:/path``); never the secret itself."""


class ShiftEntry(_Strict):
    """A shift, either one concrete occurrence or a roster line repeated on ``days``.

    Concrete: ``start``/``end`` are local date-times in the site's time zone
    (``2026-03-02T08:00``). Roster: ``days`` is ``daily`` or a list of weekdays, and
    ``start``/``end`` are local times of day (``22:00``); an ``end`` not after ``start`` means the
    next day. The day named is the day the shift starts.
    """

    guard: Id
    post: Id
    start: str
    end: str
    days: Literal["daily"] | list[Weekday] | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _times_as_text(cls, value: Any) -> Any:
        # YAML turns unquoted timestamps into datetime objects; keep one textual form to parse.
        if isinstance(value, datetime | date | time):
            return value.isoformat()
        return value


class SiteEntry(_Strict):
    id: Id
    name: str
    timezone: str = "Asia/Shanghai"
    policy: dict[str, float] = {}
    """Overrides of ``gateway.policy.SitePolicy`` fields by name; the rest keep their defaults."""
    posts: list[PostEntry] = []
    leaders: list[LeaderEntry] = []
    guards: list[GuardEntry] = []
    devices: list[DeviceEntry] = []
    shifts: list[ShiftEntry] = []


class SiteFile(_Strict):
    """The whole file: one or more sites."""

    sites: Annotated[list[SiteEntry], Field(min_length=1)]
