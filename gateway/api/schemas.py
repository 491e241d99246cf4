"""Request bodies of the API. Times must carry a zone (ISO 8601 with ``Z`` or an offset) and lie
between 2000 and 2100; strings may not hold NUL characters; ids are at most as long as their
columns (``ID_LENGTH``). Unknown fields are refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.api.validation import CleanStr, Instant
from gateway.db.base import ID_LENGTH
from gateway.db.models import NOTE_LENGTH

__all__ = ["AcknowledgeIn", "CancelIn", "LeaveIn", "ReportIn"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportIn(_Strict):
    """A verbal report (报备) of a short departure, entered by the leader who received it."""

    guard_id: CleanStr = Field(min_length=1, max_length=ID_LENGTH, examples=["g-001"])
    reported_at: Instant | None = Field(
        default=None, description="When the guard reported; default: now"
    )
    expected_return_at: Instant | None = Field(default=None, examples=["2026-03-02T08:20:00+08:00"])
    destination: CleanStr | None = Field(default=None, max_length=200)
    reason: CleanStr | None = Field(default=None, max_length=2000)
    reported_to: CleanStr | None = Field(
        default=None, max_length=ID_LENGTH, description="leader id", examples=["jt-leader-a"]
    )


class LeaveIn(_Strict):
    """An approved leave application (请假). Approval comes before leaving (art. 10.1)."""

    guard_id: CleanStr = Field(min_length=1, max_length=ID_LENGTH, examples=["g-001"])
    starts_at: Instant = Field(examples=["2026-03-02T09:00:00+08:00"])
    ends_at: Instant = Field(examples=["2026-03-02T10:00:00+08:00"])
    approved_by: CleanStr = Field(min_length=1, max_length=ID_LENGTH, examples=["jt-leader-a"])
    approved_at: Instant | None = Field(default=None, description="default: now")
    destination: CleanStr | None = Field(default=None, max_length=200)
    reason: CleanStr | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _ends_after_start(self) -> LeaveIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class CancelIn(_Strict):
    """Cancelling a leave on return (销假)."""

    cancelled_at: Instant | None = Field(default=None, description="default: now")


class AcknowledgeIn(_Strict):
    """A leader confirming an alert."""

    by: CleanStr = Field(
        min_length=1, max_length=ID_LENGTH, description="leader id", examples=["jt-leader-a"]
    )
    at: Instant | None = Field(default=None, description="default: now")
    note: CleanStr | None = Field(
        default=None,
        max_length=NOTE_LENGTH,
        description="what he saw or did",
        examples=["已电话联系"],
    )
