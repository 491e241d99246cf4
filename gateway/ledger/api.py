"""The ledger over the API: ``GET /ledger`` (JSON, or CSV/XLSX with ``format``) and
``GET /ledger/timeline`` (one guard's SVG).

Scoped like every read: a leader's ledger holds his own guards only (``guards_in_scope``), its
team and site totals computed over them; a site outside his token, or a guard outside his scope,
is answered 404 as if it did not exist. A shift a site load ended with its guard moved to
another site or team, or taken out of the file, is a line of the team it was held under, read
by that team's leaders and not by his new ones (``gateway.ledger.lines``); a guard's timeline
is drawn from his lines the token reads. Reads run off the pipeline thread: they touch only
stored records.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.api.audit import guards_in_scope
from gateway.api.tokens import Principal, Role
from gateway.api.validation import NO_NUL_SCHEMA, NoNul, errors
from gateway.clock import Clock
from gateway.db import repository as repo
from gateway.db.base import ID_LENGTH
from gateway.ledger.collect import DayOutOfRange, UnknownSite
from gateway.ledger.lines import LedgerScope
from gateway.ledger.service import CSV_ENCODING, day_ledger, safe_name
from gateway.ledger.tables import ledger_csv, ledger_xlsx
from gateway.ledger.timeline import guard_lines, ledger_timeline

__all__ = ["ledger_routes"]

SiteId = Annotated[str, Query(max_length=ID_LENGTH, json_schema_extra=NO_NUL_SCHEMA), NoNul]
GuardId = Annotated[str, Query(max_length=ID_LENGTH, json_schema_extra=NO_NUL_SCHEMA), NoNul]
Day = Annotated[date, Query(alias="date", description="the site's local day, YYYY-MM-DD")]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def ledger_routes(engine: Engine, clock: Clock, anyone: Any) -> APIRouter:
    """The routes, each behind ``anyone`` (``Depends`` admitting every role's token)."""
    router = APIRouter(tags=["ledger"])

    def ledger_for(principal: Principal, site: str, day: date) -> dict[str, Any]:
        if principal.role is Role.LEADER and site not in principal.sites:
            raise repo.NotFound(f"unknown site {site!r}")
        scope = None
        if principal.role is Role.LEADER:
            with Session(engine) as session:
                guards = frozenset(guards_in_scope(session, principal) or ())
            scope = LedgerScope(guards, principal.sites, principal.teams)
        try:
            return day_ledger(engine, site, day, clock.now(), scope)
        except UnknownSite as exc:
            raise repo.NotFound(str(exc.args[0])) from None
        except DayOutOfRange as exc:
            raise repo.InvalidRequest(str(exc)) from None

    @router.get(
        "/ledger",
        summary="The daily ledger (台账) of a site: per guard, team and site (a leader's guards')",
        responses={
            200: {
                "content": {
                    "application/json": {},
                    "text/csv": {"schema": {"type": "string"}},
                    XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
                }
            },
            **errors(401, 403, 404, 422),
        },
    )
    async def get_ledger(
        day: Day,
        site: SiteId,
        output: Annotated[str, Query(alias="format", pattern="^(json|csv|xlsx)$")] = "json",
        principal: Principal = anyone,
    ) -> Any:
        ledger = await run_in_threadpool(ledger_for, principal, site, day)
        name = f"ledger-{safe_name(site)}-{day.isoformat()}"
        if output == "csv":
            return Response(
                ledger_csv([ledger]).encode(CSV_ENCODING),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
            )
        if output == "xlsx":
            body = await run_in_threadpool(ledger_xlsx, [ledger])
            return Response(
                body,
                media_type=XLSX_TYPE,
                headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
            )
        return ledger

    @router.get(
        "/ledger/timeline",
        summary="One guard's day as an SVG timeline (on post, away, leave, alerts)",
        response_class=Response,
        responses={
            200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}},
            **errors(401, 403, 404, 422),
        },
    )
    async def get_timeline(
        day: Day, site: SiteId, guard_id: GuardId, principal: Principal = anyone
    ) -> Response:
        ledger = await run_in_threadpool(ledger_for, principal, site, day)
        lines = guard_lines(ledger, guard_id)
        if not lines:
            raise repo.NotFound(f"unknown guard {guard_id!r} at site {site!r}")
        svg = ledger_timeline(ledger, lines[0])
        return Response(svg.encode("utf-8"), media_type="image/svg+xml")

    return router
