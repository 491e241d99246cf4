"""Request bodies of the API. Times must carry a zone (ISO 8601 with ``Z`` or an offset)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

__all__ = ["AcknowledgeIn", "CancelIn", "LeaveIn", "ReportIn"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportIn(_Strict):
    """A verbal report (报备) of a short departure, entered by the leader who received it."""

    guard_id: str = Field(min_length=1, max_length=64)
    reported_at: AwareDatetime | None = Field(
        default=None, description="When the guard reported; default: now"
    )
    expected_return_at: AwareDatetime | None = None
    destination: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)
    reported_to: str | None = Field(default=None, max_length=64, description="leader id")


class LeaveIn(_Strict):
    """An approved leave application (请假). Approval comes before leaving (art. 10.1)."""

    guard_id: str = Field(min_length=1, max_length=64)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    approved_by: str = Field(min_length=1, max_length=64)
    approved_at: AwareDatetime | None = Field(default=None, description="default: now")
    destination: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _ends_after_start(self) -> LeaveIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class CancelIn(_Strict):
    """Cancelling a leave on return (销假)."""

    cancelled_at: AwareDatetime | None = Field(default=None, description="default: now")


class AcknowledgeIn(_Strict):
    """A leader confirming an alert."""

    by: str = Field(min_length=1, max_length=64, description="leader id")
    at: AwareDatetime | None = Field(default=None, description="default: now")
