"""The routes of a leader's commands about a guard: a verbal report (报备), an approved leave
(请假) and its cancellation (销假).

Each runs on the pipeline's owner thread wrapped in ``Audited`` (``run_held``), so the record,
the rule events it causes and its audit row are committed together. In a partitioned gateway
a command for a guard held by another process is forwarded there first (``held_here`` raises
``OwnedElsewhere``, which the app answers); one whose guard moved while it waited is refused
unchanged and forwarded again, or answered ``503`` (``run_held``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.api.audit import Acting, Audited, guard_subject, leave_subject
from gateway.api.schemas import CancelIn, LeaveIn, ReportIn
from gateway.api.tokens import Principal
from gateway.api.typed_times import typed_moment
from gateway.api.validation import NO_NUL_SCHEMA, NoNul, errors
from gateway.clock import utc
from gateway.db.models import LeaveRow
from gateway.pipeline.commands import ApproveLeave, CancelLeave, FileReport

__all__ = ["command_routes"]

LeaveId = Annotated[str, Path(max_length=36, json_schema_extra=NO_NUL_SCHEMA), NoNul]

_LEAVE_LINKS = {
    "CancelLeave": {
        "operationId": "cancel_leave",
        "parameters": {"leave_id": "$response.body#/id"},
        "description": "The leave just recorded is cancelled by its id.",
    }
}


def command_routes(
    engine: Engine,
    *,
    anyone: Any,
    held_here: Callable[[str, Request], None],
    run_held: Callable[[Audited, Request], dict[str, Any]],
    acting: Callable[[Principal, Request], Acting],
    partitioned: bool,
) -> APIRouter:
    """``POST /reports``, ``POST /leaves`` and ``POST /leaves/{leave_id}/cancel``, open to
    ``anyone`` (the dependency checking the token); ``partitioned``: the gateway runs as
    several processes, so a cancellation looks up its leave's guard to find where he is held."""
    router = APIRouter()
    writes = errors(400, 401, 403, 404, 409, 413, 422)
    resent: dict[int | str, dict[str, Any]] = {
        200: {"description": "The same request sent again: the one stored before"}
    }

    @router.post(
        "/reports",
        status_code=201,
        summary="Record a verbal report of a departure",
        responses={**resent, **writes},
    )
    def post_report(
        body: ReportIn, request: Request, response: Response, principal: Principal = anyone
    ) -> dict[str, Any]:
        """201 with the report stored; 200 with the one stored before when this one repeats
        it (``sent_again``: an app's retry; ``gateway.db.resent``)."""
        held_here(body.guard_id, request)
        who = acting(principal, request)
        command = FileReport(
            guard_id=body.guard_id,
            reported_at=typed_moment("reported_at", body.reported_at, who.at),
            received_at=who.at,
            expected_return_at=_opt(body.expected_return_at),
            destination=body.destination,
            reason=body.reason,
            reported_to=body.reported_to,
        )
        audited = Audited(
            who,
            "report.file",
            command,
            guard_subject(body.guard_id),
            lambda result: {"report_id": result["id"]},
            what=f"guard {body.guard_id!r}",
        )
        result = run_held(audited, request)
        if result["sent_again"]:
            response.status_code = 200
        return result

    @router.post(
        "/leaves",
        status_code=201,
        summary="Record an approved leave",
        responses={**resent, **writes},
        openapi_extra={"responses": {"201": {"links": _LEAVE_LINKS}}},
    )
    def post_leave(
        body: LeaveIn, request: Request, response: Response, principal: Principal = anyone
    ) -> dict[str, Any]:
        """201 with the leave stored; 200 with the one stored before when this one repeats it
        (``sent_again``, as for a report)."""
        held_here(body.guard_id, request)
        who = acting(principal, request)
        command = ApproveLeave(
            guard_id=body.guard_id,
            starts_at=utc(body.starts_at),
            ends_at=utc(body.ends_at),
            approved_by=body.approved_by,
            approved_at=typed_moment("approved_at", body.approved_at, who.at),
            destination=body.destination,
            reason=body.reason,
        )
        audited = Audited(
            who,
            "leave.approve",
            command,
            guard_subject(body.guard_id),
            lambda result: {"leave_id": result["id"]},
            what=f"guard {body.guard_id!r}",
        )
        result = run_held(audited, request)
        if result["sent_again"]:
            response.status_code = 200
        return result

    @router.post(
        "/leaves/{leave_id}/cancel",
        summary="Cancel a leave on return (销假)",
        responses=writes,
        operation_id="cancel_leave",
    )
    def cancel_leave(
        leave_id: LeaveId,
        request: Request,
        body: CancelIn | None = None,
        principal: Principal = anyone,
    ) -> dict[str, Any]:
        if partitioned:
            with Session(engine) as session:
                leave = session.get(LeaveRow, leave_id)
            if leave is not None:
                held_here(leave.guard_id, request)
        who = acting(principal, request)
        at = typed_moment("cancelled_at", body.cancelled_at if body else None, who.at)
        audited = Audited(
            who,
            "leave.cancel",
            CancelLeave(leave_id=leave_id, cancelled_at=at),
            leave_subject(leave_id),
            lambda result: {"leave_id": result["id"]},
            what=f"leave {leave_id!r}",
            by_reference=True,
        )
        return run_held(audited, request)

    return router


def _opt(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)
