"""The FastAPI application. Built by ``create_app``; holds no global state.

Every route but ``/health`` (and ``/ready``, ``/metrics``: ``gateway.ops``) needs an API token
(``gateway.api.auth``); the ZKTeco ``/iclock`` routes are added by ``bootstrap`` on this app or
on their own (see ``Settings.iclock_port``).
Write operations run on the pipeline's owner thread (``PipelineRuntime.call``) wrapped in
``Audited``, so the record, the rule events it causes and its audit row are committed together,
and a leader's scope is checked against the stored guard in that same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.api.alerts_routes import alert_routes
from gateway.api.audit import (
    Acting,
    Audited,
    audit_json,
    list_audit,
    wand_subject,
)
from gateway.api.auth import Authorizer, install_auth_errors
from gateway.api.command_routes import command_routes
from gateway.api.tokens import Principal, Role
from gateway.api.validation import NO_NUL_SCHEMA, BodyLimit, Instant, LocalOnly, NoNul, errors
from gateway.api.whereabouts import whereabouts
from gateway.clock import Clock, utc
from gateway.cluster.fanout import Peers, gather_whereabouts
from gateway.cluster.forward import RETRY_AFTER_S, OwnedElsewhere, forward
from gateway.cluster.node import PartitionMoving
from gateway.cluster.peer_auth import PeerAuth, connection_address
from gateway.db import repository as repo
from gateway.db.base import ID_LENGTH
from gateway.errors import DecodeError, GatewayError, GuardHeldElsewhere
from gateway.ledger.api import ledger_routes
from gateway.outbox.backlog import backlog
from gateway.pipeline.commands import (
    ImportWandDownload,
)
from gateway.pipeline.runtime import PipelineRuntime
from gateway.privacy.api import privacy_routes
from gateway.wand import parse_wand_csv
from gateway.web.geometry import TileLayer
from gateway.web.routes import live_routes

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
"""Largest request body taken: a patrol wand's full log (tens of thousands of lines) fits."""

DeviceId = Annotated[str, Path(max_length=ID_LENGTH, json_schema_extra=NO_NUL_SCHEMA), NoNul]
GuardFilter = Annotated[
    str | None, Query(max_length=ID_LENGTH, json_schema_extra=NO_NUL_SCHEMA), NoNul
]
_ANY = (Role.ADMIN, Role.LEADER, Role.INTEGRATION)


def create_app(
    runtime: PipelineRuntime[Any],
    engine: Engine,
    clock: Clock,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    tiles: TileLayer | None = None,
    cluster: Callable[[], dict[str, Any]] | None = None,
    owner_url: Callable[[str], str | None] | None = None,
    peers: Peers | None = None,
    peer_auth: PeerAuth | None = None,
) -> FastAPI:
    """The API over a running pipeline; tokens are checked against ``engine``'s store.
    ``tiles``: the live page's background map (none: fences alone, offline). ``cluster``: what
    ``/health`` shows of a partitioned gateway's node (its partitions). ``owner_url(guard_id)``:
    in a partitioned gateway, the API URL of the process holding the guard's partition (``None``
    when it is this one); commands for guards held elsewhere are forwarded to it and answered
    with its answer (``gateway.cluster.forward``), ``503`` when it does not answer.
    ``peers``: the other processes of a partitioned gateway, whose guards ``/whereabouts``
    gathers (``gateway.cluster.fanout``). ``peer_auth``: this node's key, signing the client's
    address into the commands it forwards and checking it in those forwarded to it, so each is
    audited as from its real caller (``gateway.cluster.peer_auth``)."""
    app = FastAPI(
        title="guard-gateway",
        version="0.1.0",
        description="Verbal reports, leaves, alerts and live whereabouts of guards on duty. "
        "Every route but /health, /ready and /metrics needs `Authorization: Bearer <token>` "
        "(docs/api.md).",
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    auth = Authorizer(engine)
    install_auth_errors(app)
    anyone = Depends(auth.require(*_ANY))
    leaders = Depends(auth.require(Role.ADMIN, Role.LEADER))
    admins = Depends(auth.require(Role.ADMIN))

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

    retry_later = {"Retry-After": str(RETRY_AFTER_S)}

    def held_here(guard_id: str, _request: Request) -> None:
        # A guard's rules run in the process holding his partition: the command is run there.
        if owner_url is None:
            return
        try:
            url = owner_url(guard_id)
        except PartitionMoving as exc:
            raise HTTPException(503, str(exc), headers=retry_later) from None
        if url is not None:
            raise OwnedElsewhere(url)

    @app.exception_handler(OwnedElsewhere)
    async def _elsewhere(request: Request, exc: OwnedElsewhere) -> Response:
        return await forward(request, exc.holder_url, peer_auth=peer_auth)

    def run_held(command: Audited, request: Request) -> dict[str, Any]:
        """Run a command for a guard that ``held_here`` let in. His partition may have moved
        while the command waited for the pipeline: it is then refused unchanged, and forwarded
        to where he is held now, or the caller asked to retry (``503``)."""
        try:
            result: dict[str, Any] = runtime.call(command)
        except GuardHeldElsewhere as exc:
            held_here(exc.guard_id, request)
            raise HTTPException(503, str(exc), headers=retry_later) from None
        return result

    client_of = connection_address if peer_auth is None else peer_auth.client_of

    def acting(principal: Principal, request: Request) -> Acting:
        return Acting(principal, client_of(request), clock.now())

    writes = errors(400, 401, 403, 404, 409, 413, 422)

    app.include_router(
        command_routes(
            engine,
            anyone=anyone,
            held_here=held_here,
            run_held=run_held,
            acting=acting,
            partitioned=owner_url is not None,
        )
    )

    @app.get(
        "/whereabouts",
        summary="Every guard on duty (a leader's only): state, post, last fix, since when",
        responses=errors(401, 403),
    )
    def get_whereabouts(
        request: Request, local: LocalOnly = False, principal: Principal = anyone
    ) -> dict[str, Any]:
        result: dict[str, Any] = runtime.call(lambda _s, processor: whereabouts(processor, clock))
        result["guards"] = [
            guard for guard in result["guards"] if principal.covers(guard["site_id"], guard["team"])
        ]
        if peers is None or local:
            return result
        authorization = request.headers.get("authorization")
        return gather_whereabouts(result, peers, "/whereabouts", {}, authorization)

    app.include_router(
        alert_routes(
            runtime,
            engine,
            clock,
            anyone=anyone,
            leaders=leaders,
            held_here=held_here if owner_url is not None else None,
            client_of=client_of,
        )
    )

    @app.post(
        "/wands/{wand_id}/downloads",
        status_code=201,
        summary="Import a patrol wand's downloaded log (text/csv: wand_id,tag_id,time)",
        responses=writes,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string", "maxLength": 2_000_000}}},
            }
        },
    )
    async def wand_download(
        wand_id: DeviceId,
        request: Request,
        wand_clock: Annotated[
            Instant,
            Query(description="the wand's own clock read at download time (for its skew)"),
        ],
        principal: Principal = leaders,
    ) -> dict[str, Any]:
        body = await request.body()
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise repo.InvalidRequest(f"the log is not UTF-8 text: {exc}") from None
        if "\x00" in text:
            raise repo.InvalidRequest("the log must not contain NUL characters (U+0000)")
        try:  # here, so a log that is no CSV never costs a pipeline transaction
            parse_wand_csv(text)
        except DecodeError as exc:
            raise repo.InvalidRequest(f"the log is not a wand CSV: {exc}") from None
        who = acting(principal, request)
        command = ImportWandDownload(
            wand_id=wand_id,
            csv_text=text,
            wand_clock_at_download=utc(wand_clock),
            downloaded_at=who.at,
        )
        audited = Audited(
            who,
            "wand.import",
            command,
            wand_subject(wand_id, who.at),
            lambda result: {"wand_id": wand_id, "stored": result["stored"]},
            what=f"patrol wand {wand_id!r}",
            by_reference=True,
        )
        result: dict[str, Any] = await run_in_threadpool(runtime.call, audited)
        return result

    @app.get(
        "/audit",
        summary="Who did what, when, from where (admin tokens only), newest first",
        responses=errors(401, 403, 422),
    )
    def get_audit(
        token_id: Annotated[str | None, Query(max_length=16), NoNul] = None,
        action: Annotated[str | None, Query(max_length=32), NoNul] = None,
        guard_id: GuardFilter = None,
        limit: int = Query(default=100, ge=1, le=1000),
        _principal: Principal = admins,
    ) -> list[dict[str, Any]]:
        with Session(engine) as session:
            rows = list_audit(
                session, token_id=token_id, action=action, guard_id=guard_id, limit=limit
            )
            return [audit_json(row) for row in rows]

    app.include_router(privacy_routes(engine, clock, admins))
    app.include_router(ledger_routes(engine, clock, anyone))
    app.include_router(live_routes(runtime, engine, clock, auth, tiles=tiles, peers=peers))

    @app.get(
        "/health",
        summary="Liveness, counters, queue and delivery backlog (no token needed); "
        "degraded while events the core refused wait for an operator",
        responses={503: {"description": "The pipeline thread is not running"}},
    )
    def health() -> JSONResponse:
        # Liveness only: 503 when the pipeline thread has ended (restart the process). An
        # unreachable database is a matter of /ready: the backlog is then null.
        now = clock.now()
        alive = runtime.alive()
        try:
            delivery: Any = backlog(engine, now=now)
        except SQLAlchemyError:
            delivery = None
        # Events the core refused for their content are set aside, not waited for: the
        # process is fine (still 200, nothing to restart), but an operator must look.
        refused = bool(delivery and delivery["refused"])
        status = "degraded" if refused else "alive"
        body = {
            "status": status if alive else "pipeline thread not running",
            "time": now.isoformat(),
            "queue": runtime.backlog(),
            "delivery": delivery,
            "counters": runtime.processor.counters.snapshot(),
        }
        if cluster is not None:
            body["cluster"] = cluster()
        return JSONResponse(status_code=200 if alive else 503, content=body)

    return app
