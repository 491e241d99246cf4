"""Presence rules: one pure state machine per guard shift, driven by fixes, reports, leaves and
the injected clock. See :mod:`gateway.rules.presence` for the decisions it takes."""

from .events import EVENT_TYPES, Json, RuleEvent
from .inputs import (
    DevicesAssigned,
    DutyContinued,
    FixObserved,
    LeaveApproved,
    LeaveCancelled,
    ReportFiled,
    RuleInput,
    ShiftEnded,
    Tick,
)
from .presence import scheduled, step
from .state import PresenceState

__all__ = [
    "EVENT_TYPES",
    "DevicesAssigned",
    "DutyContinued",
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
    "scheduled",
    "step",
]

# Patrol tours and attendance: see gateway.rules.patrol and gateway.rules.attendance.
from . import attendance, patrol
from .attendance import AttendanceState
from .patrol_events import (
    ATTENDANCE_EVENT_TYPES,
    PATROL_EVENT_TYPES,
    ScanObserved,
    unknown_person_event,
    unknown_tag_event,
)
from .patrol_plan import PlannedCheckpoint, RoutePlan, round_starts
from .patrol_policy import PatrolPolicy, patrol_policy
from .patrol_presence import punch_presence_inputs, scan_as_fix
from .patrol_state import PatrolState

__all__ += [
    "ATTENDANCE_EVENT_TYPES",
    "PATROL_EVENT_TYPES",
    "AttendanceState",
    "PatrolPolicy",
    "PatrolState",
    "PlannedCheckpoint",
    "RoutePlan",
    "ScanObserved",
    "attendance",
    "patrol",
    "patrol_policy",
    "punch_presence_inputs",
    "round_starts",
    "scan_as_fix",
    "unknown_person_event",
    "unknown_tag_event",
]
