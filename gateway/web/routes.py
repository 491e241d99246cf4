"""The live page's routes: the page itself (no token: it holds no data), the site geometry, the
guards on duty in a map's datum, a guard's track of a day and the live event stream.

Every data route takes the same bearer token as the rest of the API and answers within the
token's scope (a leader: his sites, and his teams there). The stream too: the page reads it with
``fetch`` and a streaming body rather than ``EventSource``, which cannot send a header, so a
token never travels in a URL (where logs and browser history keep it). See docs/live-page.md.
"""

from __future__ import annotations

from datetime import date
from functools import partial
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.api.auth import Authorizer
from gateway.api.tokens import Principal, Role, in_force
from gateway.api.validation import NO_NUL_SCHEMA, LocalOnly, NoNul, errors
from gateway.api.whereabouts import whereabouts
from gateway.clock import Clock
from gateway.cluster.fanout import Peers, gather_whereabouts
from gateway.db import repository as repo
from gateway.db.base import ID_LENGTH
from gateway.outbox.robot_templates import ALERT_TITLES, FOLLOW_UP_TITLES
from gateway.pipeline.runtime import PipelineRuntime
from gateway.web.geometry import TileLayer, guard_track, site_map
from gateway.web.resume import missed_events
from gateway.web.stream import QUEUE_LIMIT, LiveFeed, event_stream
from geofence.datum import Datum

__all__ = ["DEFAULT_KEEPALIVE_S", "EVENT_TITLES", "live_routes"]

DEFAULT_KEEPALIVE_S = 15.0
"""Seconds of quiet after which the stream sends a comment line: under the 30-60 s after which
common proxies and phones' networks drop an idle connection."""

EVENT_TITLES: dict[str, str] = {
    **FOLLOW_UP_TITLES,
    "presence.departed": "离岗 (left the post)",
    # Any scan: the follow-up's title (补巡, scanned late) names only the one ending an alert.
    "patrol.checkpoint_scanned": "巡更打点 (checkpoint scanned)",
    "patrol.round_completed": "巡更完成 (patrol round completed)",
    "patrol.unknown_tag": "未知巡更标签 (unknown tag)",
    "attendance.unknown_person": "未登记人员打卡 (unknown person at the clock)",
    **ALERT_TITLES,
}
"""How the live page titles each event type its stream carries: Chinese first, English after."""

_STATIC = resources.files("gateway.web") / "static"
_MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_NO_CACHE = {"Cache-Control": "no-cache"}

GuardId = Annotated[str, Path(max_length=ID_LENGTH, json_schema_extra=NO_NUL_SCHEMA), NoNul]
MapDatum = Annotated[
    Datum,
    Query(description="The datum of the map drawn on: wgs84 (OSM, plain), gcj02 (AMap), bd09"),
]


def live_routes(
    runtime: PipelineRuntime[Any],
    engine: Engine,
    clock: Clock,
    auth: Authorizer,
    *,
    tiles: TileLayer | None = None,
    peers: Peers | None = None,
) -> APIRouter:
    """The live page's router; subscribes its event feed to ``runtime``'s processor. With
    ``peers`` (a partitioned gateway), ``/map/whereabouts`` gathers every process's guards
    (``gateway.cluster.fanout``), and the event stream carries every process's events within
    the token's scope (``gateway.web.tail``)."""
    router = APIRouter()
    feed = LiveFeed(engine, others=peers is not None)
    runtime.processor.add_listener(feed.publish)
    anyone = Depends(auth.require(Role.ADMIN, Role.LEADER, Role.INTEGRATION))

    @router.get("/live", include_in_schema=False)
    def page() -> FileResponse:
        return _static_file("index.html")

    @router.get("/live/static/{name}", include_in_schema=False)
    def static(name: Annotated[str, Path(max_length=64)]) -> FileResponse:
        return _static_file(name)

    @router.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/live")

    @router.get(
        "/map",
        summary="The sites in scope: posts' fences and checkpoints, in a map's datum",
        responses=errors(401, 403, 422),
    )
    def get_map(datum: MapDatum = Datum.WGS84, principal: Principal = anyone) -> dict[str, Any]:
        with Session(engine) as session:
            sites = site_map(session, principal, datum)
        return {
            "datum": datum.value,
            "tiles": None if tiles is None else tiles.as_json(),
            "me": {
                "name": principal.name,
                "role": principal.role.value,
                "sites": sorted(principal.sites),
                "teams": sorted(principal.teams),
            },
            "sites": sites,
            "titles": EVENT_TITLES,
        }

    @router.get(
        "/map/whereabouts",
        summary="As /whereabouts, each last fix also in a map's datum (last_fix.map)",
        responses=errors(401, 403, 422),
    )
    def get_map_whereabouts(
        request: Request,
        datum: MapDatum = Datum.WGS84,
        local: LocalOnly = False,
        principal: Principal = anyone,
    ) -> dict[str, Any]:
        result: dict[str, Any] = runtime.call(
            lambda _s, processor: whereabouts(processor, clock, datum)
        )
        result["guards"] = [
            guard for guard in result["guards"] if principal.covers(guard["site_id"], guard["team"])
        ]
        if peers is None or local:
            return result
        authorization = request.headers.get("authorization")
        params = {"datum": datum.value}
        return gather_whereabouts(result, peers, "/map/whereabouts", params, authorization)

    @router.get(
        "/guards/{guard_id}/track",
        summary="A guard's accepted fixes of a day (his site's local date), in a map's datum",
        responses=errors(401, 403, 404, 422),
    )
    def get_track(
        guard_id: GuardId,
        day: Annotated[
            str | None,
            Query(
                alias="date",
                pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                description="YYYY-MM-DD, the site's local date; default: today",
            ),
        ] = None,
        datum: MapDatum = Datum.WGS84,
        principal: Principal = anyone,
    ) -> dict[str, Any]:
        try:  # a plain date: pydantic's ``date`` would also take "0" (a Unix time)
            on = None if day is None else date.fromisoformat(day)
        except ValueError:
            raise repo.InvalidRequest(f"date {day!r} is no calendar date") from None
        with Session(engine) as session:
            return guard_track(session, principal, guard_id, on, datum, clock.now())

    # Left out of the OpenAPI description: a response that never ends is no operation a
    # schema-driven client (or fuzzer) can call; docs/live-page.md describes it.
    @router.get("/events/stream", include_in_schema=False)
    async def stream(
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
        principal: Principal = anyone,
    ) -> StreamingResponse:
        subscription = feed.subscribe(principal)

        def token_in_force() -> bool:
            with Session(engine) as session:
                return in_force(session, principal.token_id)

        missed = partial(missed_events, engine, principal, last_event_id or None, QUEUE_LIMIT)
        return StreamingResponse(
            event_stream(feed, subscription, DEFAULT_KEEPALIVE_S, token_in_force, missed),
            media_type="text/event-stream",
            headers={**_NO_CACHE, "X-Accel-Buffering": "no"},
        )

    return router


def _static_file(name: str) -> FileResponse:
    """One of the page's own files; anything else (or a path) is 404."""
    media_type = next((t for s, t in _MEDIA_TYPES.items() if name.endswith(s)), None)
    entry = _STATIC / name
    if media_type is None or "/" in name or "\\" in name or not entry.is_file():
        raise HTTPException(status_code=404, detail="Not Found")
    with resources.as_file(entry) as path:
        return FileResponse(path, media_type=f"{media_type}; charset=utf-8", headers=_NO_CACHE)
