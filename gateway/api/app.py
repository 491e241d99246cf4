"""The FastAPI application. Built by ``create_app``; holds no global state.

Write operations run on the pipeline's owner thread (``PipelineRuntime.call``) so the record and
the rule events it causes are committed together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.api.schemas import AcknowledgeIn, CancelIn, LeaveIn, ReportIn
from gateway.api.whereabouts import whereabouts
from gateway.clock import Clock, utc
from gateway.db import repository as repo
from gateway.errors import GatewayError
from gateway.outbox.delivery import backlog
from gateway.pipeline.commands import (
    AcknowledgeAlert,
    ApproveLeave,
    CancelLeave,
    FileReport,
    ImportWandDownload,
    alert_json,
)
from gateway.pipeline.runtime import PipelineRuntime

__all__ = ["create_app"]


def create_app(runtime: PipelineRuntime[Any], engine: Engine, clock: Clock) -> FastAPI:
    """The API over a running pipeline."""
    app = FastAPI(
        title="guard-gateway",
        version="0.1.0",
        description="Verbal reports, leaves, alerts and live whereabouts of guards on duty.",
    )

    @app.exception_handler(repo.NotFound)
    async def _not_found(_request: Request, exc: repo.NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(repo.Conflict)
    async def _conflict(_request: Request, exc: repo.Conflict) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    @app.exception_handler(repo.InvalidRequest)
    async def _invalid(_request: Request, exc: repo.InvalidRequest) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(GatewayError)
    async def _gateway_error(_request: Request, exc: GatewayError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.post("/reports", status_code=201, summary="Record a verbal report of a departure")
    def post_report(body: ReportIn) -> dict[str, Any]:
        now = clock.now()
        command = FileReport(
            guard_id=body.guard_id,
            reported_at=_at(body.reported_at, now),
            received_at=now,
            expected_return_at=_opt(body.expected_return_at),
            destination=body.destination,
            reason=body.reason,
            reported_to=body.reported_to,
        )
        result: dict[str, Any] = runtime.call(command)
        return result

    @app.post("/leaves", status_code=201, summary="Record an approved leave")
    def post_leave(body: LeaveIn) -> dict[str, Any]:
        now = clock.now()
        command = ApproveLeave(
            guard_id=body.guard_id,
            starts_at=utc(body.starts_at),
            ends_at=utc(body.ends_at),
            approved_by=body.approved_by,
            approved_at=_at(body.approved_at, now),
            destination=body.destination,
            reason=body.reason,
        )
        result: dict[str, Any] = runtime.call(command)
        return result

    @app.post("/leaves/{leave_id}/cancel", summary="Cancel a leave on return (销假)")
    def cancel_leave(leave_id: str, body: CancelIn | None = None) -> dict[str, Any]:
        at = _at(body.cancelled_at if body else None, clock.now())
        result: dict[str, Any] = runtime.call(CancelLeave(leave_id=leave_id, cancelled_at=at))
        return result

    @app.get("/whereabouts", summary="Every guard on duty: state, post, last fix, since when")
    def get_whereabouts() -> dict[str, Any]:
        result: dict[str, Any] = runtime.call(lambda _s, processor: whereabouts(processor, clock))
        return result

    @app.get("/alerts", summary="Alerts, newest first")
    def get_alerts(
        status: str | None = Query(default=None, pattern="^(open|acknowledged|resolved)$"),
        guard_id: str | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        with Session(engine) as session:
            rows = repo.list_alerts(session, status=status, guard_id=guard_id, limit=limit)
            return [alert_json(row) for row in rows]

    # ``path``: an alert key contains "/" (it starts with the shift id), so the id may too.
    @app.post("/alerts/{alert_id:path}/acknowledge", summary="A leader confirms an alert")
    def acknowledge(alert_id: str, body: AcknowledgeIn) -> dict[str, Any]:
        """``alert_id``: the alert's number, or its ``alert_key``."""
        key: str | int = int(alert_id) if alert_id.isdigit() else alert_id
        at = _at(body.at, clock.now())
        result: dict[str, Any] = runtime.call(AcknowledgeAlert(alert=key, by=body.by, at=at))
        return result

    @app.post(
        "/wands/{wand_id}/downloads",
        status_code=201,
        summary="Import a patrol wand's downloaded log (text/csv: wand_id,tag_id,time)",
    )
    async def wand_download(
        wand_id: str,
        request: Request,
        wand_clock: Annotated[
            AwareDatetime,
            Query(description="the wand's own clock read at download time (for its skew)"),
        ],
    ) -> dict[str, Any]:
        body = await request.body()
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise repo.InvalidRequest(f"the log is not UTF-8 text: {exc}") from None
        command = ImportWandDownload(
            wand_id=wand_id,
            csv_text=text,
            wand_clock_at_download=utc(wand_clock),
            downloaded_at=clock.now(),
        )
        result: dict[str, Any] = await run_in_threadpool(runtime.call, command)
        return result

    @app.get("/health", summary="Counters, queue and delivery backlog")
    def health() -> dict[str, Any]:
        now = clock.now()
        delivery = backlog(engine, now=now)
        return {
            "time": now.isoformat(),
            "queue": runtime.backlog(),
            "delivery": delivery,
            "counters": runtime.processor.counters.snapshot(),
        }

    return app


def _at(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now
    return utc(value)


def _opt(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)
