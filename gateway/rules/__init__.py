"""Presence rules: one pure state machine per guard shift, driven by fixes, reports, leaves and
the injected clock. See :mod:`gateway.rules.presence` for the decisions it takes."""

from .events import EVENT_TYPES, Json, RuleEvent
from .inputs import (
    FixObserved,
    LeaveApproved,
    LeaveCancelled,
    ReportFiled,
    RuleInput,
    ShiftEnded,
    Tick,
)
from .presence import step
from .state import PresenceState

__all__ = [
    "EVENT_TYPES",
    "FixObserved",
    "Json",
    "LeaveApproved",
    "LeaveCancelled",
    "PresenceState",
    "ReportFiled",
    "RuleEvent",
    "RuleInput",
    "ShiftEnded",
    "Tick",
    "step",
]
