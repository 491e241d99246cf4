"""Input checked at the edge, so bad input gets a 4xx that names the problem and never reaches
the database: strings with NUL characters (PostgreSQL refuses them in text) or lone surrogates,
ids longer than their columns, instants outside any plausible service life, oversize bodies.
Also the documented error answers of the OpenAPI description.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "EARLIEST",
    "LATEST",
    "NO_NUL_SCHEMA",
    "BodyLimit",
    "CleanStr",
    "ErrorOut",
    "Instant",
    "LocalOnly",
    "NoNul",
    "errors",
]

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Instants the API takes lie in ``[EARLIEST, LATEST)``: a guard's report dated in year 1 or
9999 is a typing error, and such dates overflow when converted between zones."""

NO_NUL = "^[^\\u0000]*$"
"""Told to clients in the schema; the check itself is ``_clean`` (with a clearer message)."""


def _clean(value: str | None) -> str | None:
    if value is None:  # an optional parameter left out
        return None
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (U+0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


def _plausible(value: datetime) -> datetime:
    try:
        inside = EARLIEST <= value < LATEST
    except OverflowError:  # year 1 or 9999 with an offset: no UTC equivalent
        inside = False
    if not inside:
        raise ValueError(
            f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC), "
            f"got {value.isoformat()}"
        )
    return value


CleanStr = Annotated[str, AfterValidator(_clean), Field(json_schema_extra={"pattern": NO_NUL})]
"""A string with no NUL character and no lone surrogate (for body fields)."""

NoNul = AfterValidator(_clean)
"""The same check for path and query parameters, placed after their ``Path``/``Query`` so their
length limit is checked as a string's (``NO_NUL_SCHEMA`` tells clients)."""

NO_NUL_SCHEMA: dict[str, Any] = {"pattern": NO_NUL}

Instant = Annotated[AwareDatetime, AfterValidator(_plausible)]
"""An instant with a zone, between ``EARLIEST`` and ``LATEST``."""


class ErrorOut(BaseModel):
    """Every error answer: ``detail`` says what is wrong (a list of field problems for 422s
    found by the request's validation)."""

    detail: str | list[dict[str, Any]]


_ERRORS: dict[int, str] = {
    400: "The request is well formed but names something that cannot be (e.g. a bad site file)",
    401: "No API token, or an unknown or revoked one (see WWW-Authenticate)",
    403: "The token's role or scope does not allow this",
    404: "The guard, leave, alert or wand is unknown (or not within the token's scope)",
    409: "The request conflicts with what is stored (e.g. a leave already cancelled)",
    413: "The body is larger than the gateway accepts",
    422: "The request is invalid; detail says which field and why",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries of these error codes."""
    entries: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entries[code] = {"model": ErrorOut, "description": _ERRORS[code]}
        if code == 401:
            entries[code]["headers"] = {
                "WWW-Authenticate": {
                    "description": 'The challenge: Bearer realm="guard-gateway"',
                    "schema": {"type": "string"},
                }
            }
    return entries


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413.

    A declared ``Content-Length`` over the limit is refused before reading anything. Otherwise
    the body is read here (at most ``max_bytes`` of it are ever held) and handed on whole, so a
    body sent without a length (chunked) is refused as soon as it passes the limit, before any
    route sees it. It is also kept as the request's ``state.body``: a command for a guard
    another process holds is forwarded there as it was received (``gateway.cluster.forward``).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        scope.setdefault("state", {})["body"] = whole
        body = {"type": "http.request", "body": whole, "more_body": False}
        await self.app(scope, _replay([body], then=receive), send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": f"the request body exceeds {self.max_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` giving ``messages`` first, then waiting on ``then`` (disconnects)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


LocalOnly = Annotated[
    bool,
    Query(
        description="Only the guards held by the process asked (in a partitioned gateway; "
        "by default every process's are gathered)"
    ),
]
"""The ``local`` query flag of the whereabouts views (``gateway.cluster.fanout``)."""
