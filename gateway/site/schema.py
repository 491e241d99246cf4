"""The site file's shape (pydantic models): what each entry may hold and the types of its fields.

Only the *shape* is checked here (types, required fields, allowed words). Whether the parts fit
together (references, duplicate ids, fence geometry, overlapping shifts) is checked by
``gateway.site.checks`` so that every problem can be reported at once. ``docs/site-file.md``
describes every field.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from drivers.zkteco.push_address import parse_network
from gateway.records import PunchKind

__all__ = [
    "WEEKDAYS",
    "CheckpointEntry",
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
    "RobotEntry",
    "RouteCheckpointEntry",
    "RouteEntry",
    "RouteSchedule",
    "ShiftEntry",
    "SiteEntry",
    "SiteFile",
    "normalise_tag_id",
]

Id = Annotated[str, StringConstraints(pattern=r"^[\w.:-]{1,64}$")]
DeviceId = Annotated[str, StringConstraints(pattern=r"^[\w.:-]+(/[\w.:-]+)?$", max_length=64)]
"""A device id may hold one ``/``: OwnTracks names a device ``<user>/<device>``."""
"""Letters (any script), digits, ``_ . : -``; at most 64 characters; unique across the gateway."""

_WIEGAND = re.compile(r"^(\d{1,5}):(\d{1,10})$")
_HEX = re.compile(r"^[0-9A-F]{8,20}$")


def normalise_tag_id(text: str) -> str:
    """A tag or card id in its one written form, or ``ValueError``.

    * Wiegand ``facility:card`` (decimal): leading zeros dropped, ``"012:00345"`` -> ``"12:345"``;
    * otherwise a hex id: an NFC/Mifare UID (4, 7 or 10 bytes) or the EM4100 10-hex-digit id,
      upper-case, with ``:``, ``-`` and space separators removed: ``"04:a2:24:1a"`` ->
      ``"04A2241A"``; 8 to 20 hex digits, an even number.
    """
    value = str(text).strip()
    wiegand = _WIEGAND.match(value)
    if wiegand is not None:
        return f"{int(wiegand[1])}:{int(wiegand[2])}"
    compact = re.sub(r"[\s:-]", "", value).upper()
    if not _HEX.match(compact) or len(compact) % 2:
        raise ValueError(
            f"tag id {text!r} is neither a hex UID/EM4100 id (8-20 hex digits) nor a Wiegand "
            "facility:card"
        )
    return compact


TagId = Annotated[str, AfterValidator(normalise_tag_id)]
"""A tag or card id, normalised by :func:`normalise_tag_id`."""
Pin = Annotated[str, StringConstraints(pattern=r"^[\w.-]{1,24}$")]
"""A clock-in terminal's user id (PIN): letters, digits, ``_ . -``, at most 24 characters."""

MAX_ADDRESSES = 16
"""Networks one terminal's ``address`` may list (the database keeps room for as many)."""
NetworkText = Annotated[str, AfterValidator(lambda text: str(parse_network(text)))]
"""An IP address or CIDR network in its one written form: ``192.168.10.21`` ->
``192.168.10.21/32``; a network with host bits set is refused (``push_address.parse_network``)."""

Datum = Literal["wgs84", "gcj02", "bd09"]
DeviceSecretRef = Annotated[
    str, StringConstraints(pattern=r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:/\S.*)$", max_length=200)
]
"""Where a device's broker password is: ``env:NAME`` or ``file:/absolute/path``."""

DeviceKind = Literal["gps", "nfc_reader", "em4100_reader", "clock_in", "patrol_wand"]
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
    reports_to: Id | None = None
    """The leader of this site one level up (项目经理 above a 班长): alerts of this leader's
    guards left unacknowledged past the policy's ``escalate_after_s`` are escalated to him."""


class GuardEntry(_Strict):
    id: Id
    name: str
    team: str | None = None
    leaders: list[Id] = []
    """Ids of the leaders alerted about this guard; empty means the leaders of his team."""
    contacts: Contacts = Contacts()
    pin: Pin | None = None
    """His user id / PIN on the clock-in terminals (ZKTeco ``PIN``); unique within the site."""
    cards: list[TagId] = []
    """Ids of the cards he shows to a card reader (as ``checkpoints[].tags`` are written)."""

    @field_validator("pin", mode="before")
    @classmethod
    def _pin_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted PIN such as 1001 as a number.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class DeviceEntry(_Strict):
    id: DeviceId
    kind: DeviceKind
    guard: Id | None = None
    """The guard wearing this terminal (GPS); a guard may wear several (a badge and a phone)."""
    post: Id | None = None
    """The post a fixed reader or clock-in terminal stands at."""
    secret_ref: DeviceSecretRef | None = None
    """A GPS terminal's MQTT password: ``env:NAME`` (an environment variable) or ``file:/path``
    (its first line), read by ``guard-gateway broker-config``; never the secret itself."""
    url: str | None = None
    """How to reach a reader or terminal: ``tty:USB0:pn532``, ``usb:...``, ``/dev/ttyUSB0``,
    ``socket://host:port``, ``tcp://10.0.0.9:4370``."""
    variant: str | None = None
    """Frame format of a 125 kHz reader: ``rdm6300``, ``decimal``, ``wiegand26``, ``wiegand34``."""
    sn: str | None = None
    """Serial number a ZKTeco push terminal sends (``SN=``); unique across the file."""
    timezone: str | None = None
    """Time zone of the device's clock when it gives local times (default: the site's)."""
    punch_kind: PunchKind | None = None
    """A card reader (``nfc_reader``/``em4100_reader``) at a gate acting as a clock-in terminal:
    the punch kind every card read makes."""
    address: Annotated[list[NetworkText], Field(min_length=1, max_length=MAX_ADDRESSES)] | None = (
        None
    )
    """A ZKTeco PUSH terminal's own address(es): one address or CIDR network, or a list of them.
    A request for its ``sn`` from any other address is refused; without it, anyone who knows
    the serial number can speak for the terminal."""

    @field_validator("sn", mode="before")
    @classmethod
    def _sn_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("address", mode="before")
    @classmethod
    def _one_address_as_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


RobotId = Annotated[str, StringConstraints(pattern=r"^[\w.:-]{1,26}$")]
"""Like ``Id`` but at most 26 characters: it names the robot's outbox destination ``robot:<id>``."""
SecretRef = Annotated[str, StringConstraints(pattern=r"^[\w.:-]{1,64}$")]
"""The name of a secret held by the gateway's settings (``GATEWAY_ROBOT_SECRETS``)."""


class RobotEntry(_Strict):
    """A leaders' group robot (群机器人) in WeCom or DingTalk that receives alerts as messages.

    It receives the alerts (and their follow-ups) of the guards it covers: those of ``teams``,
    and those whose leaders include one of ``leaders``; with neither, every guard of the site
    (and alerts of the site's devices). Credentials are never written here: ``webhook_ref`` and
    ``secret_ref`` name entries of the setting ``GATEWAY_ROBOT_SECRETS``.
    """

    id: RobotId
    name: str
    """The group's name, as leaders know it (``北门班组``)."""
    kind: Literal["wecom", "dingtalk"]
    webhook_ref: SecretRef
    """The secret holding the webhook's ``key`` (WeCom) or ``access_token`` (DingTalk), or the
    whole webhook URL."""
    secret_ref: SecretRef | None = None
    """DingTalk only: the secret holding the robot's signing key (加签, ``SEC...``)."""
    url: str | None = None
    """The robot API endpoint when not the public one (a proxy, a test stub)."""
    teams: list[str] = []
    leaders: list[Id] = []


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


class CheckpointEntry(_Strict):
    """A patrol checkpoint (巡更点): one or more tags fixed at one place of a post."""

    id: Id
    name: str
    post: Id
    tags: Annotated[list[TagId], Field(min_length=1)]


class RouteCheckpointEntry(_Strict):
    """A checkpoint of a route and its window: ``[start, end]`` minutes from the round's start."""

    checkpoint: Id
    window_min: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=2, max_length=2)]


class RouteSchedule(_Strict):
    """When rounds start: ``every_min`` (from each shift's start, plus ``offset_min``) or
    ``times`` (local times of day ``HH:MM``), exactly one of the two."""

    every_min: Annotated[float, Field(gt=0)] | None = None
    offset_min: Annotated[float, Field(ge=0)] = 0
    times: list[str] | None = None

    @field_validator("times", mode="before")
    @classmethod
    def _times_as_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [v.isoformat() if isinstance(v, time) else v for v in value]
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> RouteSchedule:
        if (self.every_min is None) == (self.times is None):
            raise ValueError("give exactly one of every_min and times")
        return self


class RouteEntry(_Strict):
    """A patrol route at a post: checkpoints in walking order, each with its window."""

    id: Id
    name: str | None = None
    post: Id
    ordered: bool = True
    """Whether the checkpoints must be scanned in the order listed."""
    schedule: RouteSchedule
    checkpoints: Annotated[list[RouteCheckpointEntry], Field(min_length=1)]


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
    checkpoints: list[CheckpointEntry] = []
    routes: list[RouteEntry] = []
    robots: list[RobotEntry] = []


class SiteFile(_Strict):
    """The whole file: one or more sites."""

    sites: Annotated[list[SiteEntry], Field(min_length=1)]
