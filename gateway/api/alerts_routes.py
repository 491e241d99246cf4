"""The alert routes: list (a leader's guards' only), acknowledge with a note, resolve by hand.

Acting routes run on the pipeline's owner thread wrapped in ``Audited`` (``alert.acknowledge``,
``alert.resolve``): the leader's scope is checked against the alert's guard in the action's own
transaction, and an alert outside it is answered as unknown (404), as every record named by its
id. The alert's id in the path is its number or its ``alert_key`` (which contains ``/``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.api.audit import Acting, Audited, alert_subject, list_alerts_within
from gateway.api.schemas import AcknowledgeIn
from gateway.api.tokens import Principal
from gateway.api.typed_times import typed_moment
from gateway.api.validation import NO_NUL_SCHEMA, CleanStr, NoNul, errors
from gateway.clock import Clock
from gateway.cluster.peer_auth import connection_address
from gateway.db.base import ID_LENGTH
from gateway.db.models import NOTE_LENGTH, AlertRow
from gateway.pipeline.alert_commands import AcknowledgeAlert, ResolveAlert, alert_json
from gateway.pipeline.runtime import PipelineRuntime

__all__ = ["ResolveIn", "alert_ref", "alert_routes"]

AlertRef = Annotated[str, Path(max_length=255, json_schema_extra=NO_NUL_SCHEMA), NoNul]
GuardFilter = Annotated[
    str | None, Query(max_length=ID_LENGTH, json_schema_extra=NO_NUL_SCHEMA), NoNul
]


class ResolveIn(BaseModel):
    """A leader closing an alert by hand: why, and (optionally) who."""

    model_config = ConfigDict(extra="forbid")

    note: CleanStr = Field(
        min_length=1,
        max_length=NOTE_LENGTH,
        description="why it is closed",
        examples=["已到现场核实，误报"],
    )
    by: CleanStr | None = Field(
        default=None,
        min_length=1,
        max_length=ID_LENGTH,
        description="leader id; default: the token's name",
        examples=["jt-leader-a"],
    )


def alert_routes(
    runtime: PipelineRuntime[Any],
    engine: Engine,
    clock: Clock,
    *,
    anyone: Any,
    leaders: Any,
    held_here: Callable[[str, Request], None] | None = None,
    client_of: Callable[[Request], str | None] = connection_address,
) -> APIRouter:
    """``GET /alerts``, ``POST /alerts/{id}/acknowledge``, ``POST /alerts/{id}/resolve``;
    ``anyone``/``leaders`` are the app's token dependencies of those roles.

    ``held_here(guard_id, request)``: in a partitioned gateway, raises when another process
    holds the guard's partition (the command is forwarded to it, or answered 503 while the
    partition moves or its holder does not answer). An
    acknowledgement or resolution then runs where the guard's rules run, one after the other
    with the transactions that open, update and resolve his alerts, never beside them.
    ``client_of(request)``: the address a command is audited as from (a forwarded command's
    caller, vouched for by the process that forwarded it: ``gateway.cluster.peer_auth``).
    """
    router = APIRouter()

    def owner_first(key: str | int, request: Request) -> None:
        if held_here is None:
            return
        column = AlertRow.id if isinstance(key, int) else AlertRow.alert_key
        with Session(engine) as session:
            guard_id = session.scalar(select(AlertRow.guard_id).where(column == key))
        if guard_id is not None:  # unknown: the command answers 404 as everywhere
            held_here(guard_id, request)

    writes = errors(400, 401, 403, 404, 409, 413, 422)

    def acting(principal: Principal, request: Request) -> Acting:
        return Acting(principal, client_of(request), clock.now())

    def run(
        who: Acting,
        action: str,
        command: Callable[[Session, Any], dict[str, Any]],
        key: str | int,
    ) -> dict[str, Any]:
        audited = Audited(
            who,
            action,
            command,
            alert_subject(key),
            lambda result: {"alert_id": result["id"], "alert_key": result["alert_key"]},
            what=f"alert {key!r}",
            by_reference=True,
        )
        result: dict[str, Any] = runtime.call(audited)
        return result

    @router.get(
        "/alerts",
        summary="Alerts (a leader's guards' only), newest first",
        responses=errors(401, 403, 422),
    )
    def get_alerts(
        status: str | None = Query(default=None, pattern="^(open|acknowledged|resolved)$"),
        guard_id: GuardFilter = None,
        limit: int = Query(default=100, ge=1, le=1000),
        principal: Principal = anyone,
    ) -> list[dict[str, Any]]:
        with Session(engine) as session:
            rows = list_alerts_within(
                session, principal, status=status, guard_id=guard_id, limit=limit
            )
            return [alert_json(row) for row in rows]

    # ``path``: an alert key contains "/" (it starts with the shift id), so the id may too.
    @router.post(
        "/alerts/{alert_id:path}/acknowledge",
        summary="A leader confirms an alert, with an optional note",
        responses=writes,
    )
    def acknowledge(
        alert_id: AlertRef,
        body: AcknowledgeIn,
        request: Request,
        principal: Principal = leaders,
    ) -> dict[str, Any]:
        """``alert_id``: the alert's number, or its ``alert_key``. The first acknowledgement
        is kept; ``ack_latency_s`` in the answer is the time it took."""
        key = alert_ref(alert_id)
        owner_first(key, request)
        who = acting(principal, request)
        at = typed_moment("at", body.at, who.at)
        command = AcknowledgeAlert(alert=key, by=body.by, at=at, note=body.note)
        return run(who, "alert.acknowledge", command, key)

    @router.post(
        "/alerts/{alert_id:path}/resolve",
        summary="A leader resolves an alert by hand, with a note (resolution by_hand)",
        responses=writes,
    )
    def resolve(
        alert_id: AlertRef,
        body: ResolveIn,
        request: Request,
        principal: Principal = leaders,
    ) -> dict[str, Any]:
        """Writes ``alert.resolved`` to the core and the guard's groups; 409 when the alert
        is already resolved (by the facts or by hand)."""
        key = alert_ref(alert_id)
        owner_first(key, request)
        who = acting(principal, request)
        by = body.by or principal.name[:ID_LENGTH]
        command = ResolveAlert(alert=key, note=body.note, by=by, at=who.at)
        return run(who, "alert.resolve", command, key)

    return router


def alert_ref(alert_id: str) -> str | int:
    """An alert's number (ASCII digits that fit a 64-bit key), else its key: ``'¹'.isdigit()``
    is true but it is no number, and 20 digits overflow PostgreSQL's ``bigint``."""
    if alert_id.isascii() and alert_id.isdigit() and len(alert_id) <= 18:
        return int(alert_id)
    return alert_id
