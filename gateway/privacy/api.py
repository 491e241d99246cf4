"""The API side of a guard's data request (admin tokens only, audited): export and erasure.

``GET /guards/{guard_id}/data`` streams his records as JSON lines (``application/x-ndjson``);
``POST /guards/{guard_id}/erase`` deletes them and answers the rows erased per table, or 409
with the reason it is refused (``gateway.privacy.subject``). Both run off the pipeline thread:
they touch only records, in bounded batches, and never the pipeline's memory.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import Engine

from gateway.api.tokens import Principal
from gateway.api.validation import NO_NUL_SCHEMA, NoNul, errors
from gateway.clock import Clock
from gateway.db import repository as repo
from gateway.db.base import ID_LENGTH
from gateway.privacy.audit import Actor, audited_erasure, audited_export
from gateway.privacy.subject import ErasureRefused, guard_data_exists

__all__ = ["privacy_routes"]

GuardId = Annotated[str, Path(max_length=ID_LENGTH, json_schema_extra=NO_NUL_SCHEMA), NoNul]


def privacy_routes(engine: Engine, clock: Clock, admins: Any) -> APIRouter:
    """The routes, each behind ``admins`` (``Depends`` of the dependency admitting admin tokens
    only)."""
    router = APIRouter(tags=["personal data"])

    def actor(principal: Principal, request: Request) -> Actor:
        client = request.client.host if request.client else None
        return Actor(principal.token_id, principal.name, principal.role.value, client)

    @router.get(
        "/guards/{guard_id}/data",
        summary="Everything held about one guard, one JSON object a line (PIPL art. 45)",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
            **errors(401, 403, 404, 422),
        },
    )
    async def export(
        guard_id: GuardId, request: Request, principal: Principal = admins
    ) -> StreamingResponse:
        if not await run_in_threadpool(guard_data_exists, engine, guard_id):
            raise repo.NotFound(f"no data about guard {guard_id!r}")
        lines = audited_export(engine, actor(principal, request), guard_id, clock.now())
        return StreamingResponse(lines, media_type="application/x-ndjson")

    @router.post(
        "/guards/{guard_id}/erase",
        summary="Erase everything held about one guard (PIPL art. 47); cannot be undone",
        responses=errors(401, 403, 404, 409, 422),
    )
    def erase(guard_id: GuardId, request: Request, principal: Principal = admins) -> Any:
        if not guard_data_exists(engine, guard_id):
            raise repo.NotFound(f"no data about guard {guard_id!r}")
        try:
            report = audited_erasure(engine, actor(principal, request), guard_id, clock.now())
        except ErasureRefused as exc:
            return JSONResponse(status_code=409, content={"detail": str(exc)})
        return {"guard_id": guard_id, "erased": report.rows, "total": report.total}

    return router
