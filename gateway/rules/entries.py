"""The entries a presence state keeps: fix evidence, reports, leaves, the open departure and
the leaves waiting to be cancelled; each with its JSON form (the silences raised are in
:mod:`gateway.rules.silences`).

Times in the JSON form are ISO 8601 UTC strings; ``from_json`` gives back equal objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from gateway.clock import utc
from geofence.membership import Membership

from .events import Json
from .inputs import FixObserved

__all__ = [
    "Departure",
    "FixEvidence",
    "Leave",
    "PendingCancel",
    "Report",
    "departure_id_for",
    "iso",
    "opt_dt",
    "opt_evidence",
    "opt_evidence_json",
    "opt_iso",
    "opt_str",
    "to_dt",
]

_DEPARTURE_NAMESPACE = uuid.UUID("d4081d5e-74a9-4303-a3ad-3314b7ede59d")


@lru_cache(maxsize=1 << 16)
def iso(value: datetime) -> str:
    """ISO 8601 text of an aware datetime, normalised to UTC."""
    # Cached: a state is written as JSON after every step, and most of its times (the shift's
    # start and end, the arrival, the deadline) are the same objects step after step, often
    # shared by every guard of a shift; equal instants give equal text.
    return utc(value).isoformat()


def to_dt(value: Any) -> datetime:
    """Parse an ISO 8601 time as an aware UTC datetime."""
    return utc(datetime.fromisoformat(str(value)))


def opt_dt(value: Any) -> datetime | None:
    return None if value is None else to_dt(value)


def opt_iso(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def departure_id_for(shift_id: str, started_at: datetime) -> str:
    """The departure's id: a UUID derived from the shift and the first fix outside."""
    return str(uuid.uuid5(_DEPARTURE_NAMESPACE, f"{shift_id}|{iso(started_at)}"))


@dataclass(frozen=True, slots=True)
class FixEvidence:
    """The part of a fix kept as evidence in the state and in event data."""

    device_id: str
    fix_time: datetime
    received_at: datetime
    lat: float
    lon: float
    accuracy_m: float | None
    distance_m: float
    raw: str

    @classmethod
    def of(cls, fix: FixObserved) -> FixEvidence:
        return cls(
            device_id=fix.device_id,
            fix_time=utc(fix.fix_time),
            received_at=utc(fix.received_at),
            lat=fix.lat,
            lon=fix.lon,
            accuracy_m=fix.accuracy_m,
            distance_m=fix.distance_m,
            raw=fix.raw,
        )

    def to_json(self) -> dict[str, Json]:
        return {
            "device_id": self.device_id,
            "time": iso(self.fix_time),
            "received_at": iso(self.received_at),
            "lat": self.lat,
            "lon": self.lon,
            "accuracy_m": self.accuracy_m,
            "distance_m": self.distance_m,
            "raw": self.raw,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FixEvidence:
        return cls(
            device_id=str(data["device_id"]),
            fix_time=to_dt(data["time"]),
            received_at=to_dt(data["received_at"]),
            lat=float(data["lat"]),
            lon=float(data["lon"]),
            accuracy_m=_opt_float(data["accuracy_m"]),
            distance_m=float(data["distance_m"]),
            raw=str(data["raw"]),
        )


@dataclass(frozen=True, slots=True)
class HeldFix:
    """A fix held back for the positions its terminal stored in the gap before it
    (``gateway.rules.holds``): its evidence and its geofence verdict."""

    evidence: FixEvidence
    membership: Membership

    def to_json(self) -> dict[str, Json]:
        return {**self.evidence.to_json(), "membership": str(self.membership)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HeldFix:
        return cls(FixEvidence.from_json(data), Membership(data["membership"]))


def opt_evidence(data: Any) -> FixEvidence | None:
    return None if data is None else FixEvidence.from_json(data)


def opt_evidence_json(value: FixEvidence | None) -> Json:
    return None if value is None else value.to_json()


@dataclass(frozen=True, slots=True)
class Report:
    """A verbal report on record; ``used_by`` is the departure it covered, if any."""

    report_id: str
    reported_at: datetime
    expected_return_at: datetime | None = None
    destination: str | None = None
    reason: str | None = None
    used_by: str | None = None
    entered_at: datetime | None = None
    """When the report reached the gateway; ``None``: at ``reported_at``."""

    @property
    def entered(self) -> datetime:
        return self.reported_at if self.entered_at is None else self.entered_at

    def to_json(self) -> dict[str, Json]:
        return {
            "report_id": self.report_id,
            "reported_at": iso(self.reported_at),
            "expected_return_at": opt_iso(self.expected_return_at),
            "destination": self.destination,
            "reason": self.reason,
            "used_by": self.used_by,
            "entered_at": opt_iso(self.entered_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        return cls(
            report_id=str(data["report_id"]),
            reported_at=to_dt(data["reported_at"]),
            expected_return_at=opt_dt(data["expected_return_at"]),
            destination=opt_str(data["destination"]),
            reason=opt_str(data["reason"]),
            used_by=opt_str(data["used_by"]),
            entered_at=opt_dt(data.get("entered_at")),
        )


@dataclass(frozen=True, slots=True)
class Leave:
    """An approved leave on record; ``cancelled_at`` once it was cancelled; ``entered_at``
    when it was typed in, if after its approval."""

    leave_id: str
    starts_at: datetime
    ends_at: datetime
    approved_by: str
    approved_at: datetime
    cancelled_at: datetime | None = None
    entered_at: datetime | None = None

    @property
    def entered(self) -> datetime:
        """When the machine learned of it: typed in, or approved when typed in at once."""
        return self.approved_at if self.entered_at is None else self.entered_at

    def active_at(self, when: datetime) -> bool:
        """Whether the leave was not yet cancelled at ``when``."""
        return self.cancelled_at is None or when < self.cancelled_at

    @property
    def over_at(self) -> datetime:
        """When the leave stopped excusing him: its end, or its cancellation if sooner."""
        if self.cancelled_at is not None and self.cancelled_at < self.ends_at:
            return self.cancelled_at
        return self.ends_at

    def to_json(self) -> dict[str, Json]:
        return {
            "leave_id": self.leave_id,
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "approved_by": self.approved_by,
            "approved_at": iso(self.approved_at),
            "cancelled_at": opt_iso(self.cancelled_at),
            "entered_at": opt_iso(self.entered_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Leave:
        return cls(
            leave_id=str(data["leave_id"]),
            starts_at=to_dt(data["starts_at"]),
            ends_at=to_dt(data["ends_at"]),
            approved_by=str(data["approved_by"]),
            approved_at=to_dt(data["approved_at"]),
            cancelled_at=opt_dt(data["cancelled_at"]),
            entered_at=opt_dt(data.get("entered_at")),
        )


@dataclass(frozen=True, slots=True)
class Departure:
    """A confirmed departure that has not ended yet.

    ``last_fix`` is the latest fix outside; ``inside_first`` the first fix of a candidate return
    (cleared by a fix outside). The ``*_done`` flags record which decisions were taken, so none is
    taken twice; ``open_alerts`` are the keys the return will resolve; ``unreported_alert`` and
    ``overtime_alert`` the keys of those alerts if they fired, ``left_early_alert`` that of
    ``alert.left_early`` (a report or leave entered late may withdraw them; ``withdrawn`` lists
    the ones withdrawn). ``away_devices`` are the worn devices
    seen confirmed outside during it; ``left_behind`` the worn devices reported as left on the
    post. ``returned_at`` is set once the departure has ended (kept as a past departure).
    ``limits_fell``: (key, when it fell) of each off-post limit alert raised (overtime, overrun),
    for a return dated before one of them, learned later, to withdraw it. ``checked_out``: he
    punched a check-out (签退) before the end during it, or it began with one.
    """

    departure_id: str
    first_fix: FixEvidence
    last_fix: FixEvidence
    report_id: str | None = None
    leave_id: str | None = None
    unreported_done: bool = False
    overtime_done: bool = False
    overrun_done: bool = False
    open_alerts: tuple[str, ...] = ()
    inside_first: FixEvidence | None = None
    unreported_alert: str | None = None
    overtime_alert: str | None = None
    left_early_alert: str | None = None
    withdrawn: tuple[str, ...] = ()
    away_devices: tuple[str, ...] = ()
    left_behind: tuple[str, ...] = ()
    returned_at: datetime | None = None
    limits_fell: tuple[tuple[str, datetime], ...] = ()
    checked_out: bool = False

    @property
    def started_at(self) -> datetime:
        """Device time of the first fix outside."""
        return self.first_fix.fix_time

    def to_json(self) -> dict[str, Json]:
        return {
            "departure_id": self.departure_id,
            "first_fix": self.first_fix.to_json(),
            "last_fix": self.last_fix.to_json(),
            "report_id": self.report_id,
            "leave_id": self.leave_id,
            "unreported_done": self.unreported_done,
            "overtime_done": self.overtime_done,
            "overrun_done": self.overrun_done,
            "open_alerts": list(self.open_alerts),
            "inside_first": opt_evidence_json(self.inside_first),
            "unreported_alert": self.unreported_alert,
            "overtime_alert": self.overtime_alert,
            "left_early_alert": self.left_early_alert,
            "withdrawn": list(self.withdrawn),
            "away_devices": list(self.away_devices),
            "left_behind": list(self.left_behind),
            "returned_at": opt_iso(self.returned_at),
            "limits_fell": [[key, iso(fell)] for key, fell in self.limits_fell],
            "checked_out": self.checked_out,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Departure:
        return cls(
            departure_id=str(data["departure_id"]),
            first_fix=FixEvidence.from_json(data["first_fix"]),
            last_fix=FixEvidence.from_json(data["last_fix"]),
            report_id=opt_str(data["report_id"]),
            leave_id=opt_str(data["leave_id"]),
            unreported_done=bool(data["unreported_done"]),
            overtime_done=bool(data["overtime_done"]),
            overrun_done=bool(data["overrun_done"]),
            open_alerts=tuple(str(k) for k in data["open_alerts"]),
            inside_first=opt_evidence(data["inside_first"]),
            unreported_alert=opt_str(data.get("unreported_alert")),
            overtime_alert=opt_str(data.get("overtime_alert")),
            left_early_alert=opt_str(data.get("left_early_alert")),
            withdrawn=tuple(str(k) for k in data.get("withdrawn", ())),
            away_devices=tuple(str(d) for d in data.get("away_devices", ())),
            left_behind=tuple(str(d) for d in data.get("left_behind", ())),
            returned_at=opt_dt(data.get("returned_at")),
            limits_fell=tuple((str(k), to_dt(t)) for k, t in data.get("limits_fell", ())),
            checked_out=bool(data.get("checked_out", False)),
        )


@dataclass(frozen=True, slots=True)
class PendingCancel:
    """A leave used by a departure that ended at ``returned_at`` and is not cancelled yet;
    ``departure_id`` ``None``: used at the shift start (he was expected while on leave) and
    ``returned_at`` his arrival.

    ``alert_key`` is set once ``alert.leave_not_cancelled`` fired. ``entered_at``: when the
    leave was typed in, for a leave entered only after this return (``None`` otherwise).
    ``off_duty``: he was out on the leave when the shift ended, and ``returned_at`` is the
    leave's end (his return is not watched off duty).
    """

    leave_id: str
    departure_id: str | None
    returned_at: datetime
    alert_key: str | None = None
    entered_at: datetime | None = None
    off_duty: bool = False

    def to_json(self) -> dict[str, Json]:
        return {
            "leave_id": self.leave_id,
            "departure_id": self.departure_id,
            "returned_at": iso(self.returned_at),
            "alert_key": self.alert_key,
            "entered_at": opt_iso(self.entered_at),
            "off_duty": self.off_duty,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingCancel:
        return cls(
            leave_id=str(data["leave_id"]),
            departure_id=opt_str(data["departure_id"]),
            returned_at=to_dt(data["returned_at"]),
            alert_key=opt_str(data["alert_key"]),
            entered_at=opt_dt(data.get("entered_at")),
            off_duty=bool(data.get("off_duty", False)),
        )
