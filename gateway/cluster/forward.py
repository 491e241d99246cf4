"""A command for a guard another process holds, carried there by the process it reached.

A guard's rules run in the process holding his partition, so a command for him (a report, a
leave, an alert's acknowledgement or resolution) is run there. The caller talks to one address
(a leader's phone or the live page to a balancer or to one process) and cannot be sent on: a
browser drops the ``Authorization`` header on a redirect to another origin, and another
process's address may not even be reachable from outside. So the process that received the
command forwards it, as received (method, path, query, body, ``Authorization``), to the
holder's API URL (``GATEWAY_PUBLIC_URL``, published in ``cluster_nodes``) and answers with the
holder's answer. The holder checks the token, runs and audits the command as for any caller:
each command is recorded once, by the holder, with the caller's own address as its client,
which the forwarding process vouches for by a signature (``gateway.cluster.peer_auth``).

When the holder does not answer (killed: its lease lives on for up to ``LEASE_TTL``; frozen;
unreachable) the answer is ``503`` with ``Retry-After``, as while nobody holds the partition:
the caller tries again once the partition is taken over. A forwarded command carries
``FORWARDED_HEADER``; a process receiving one for a guard it does not hold either (the two
disagree while a lease moves) answers ``503`` rather than forwarding it on, so a command never
travels in a circle.
"""

from __future__ import annotations

import logging

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.cluster.peer_auth import PeerAuth

__all__ = [
    "FORWARDED_HEADER",
    "FORWARD_TIMEOUT_S",
    "RETRY_AFTER_S",
    "OwnedElsewhere",
    "forward",
    "unavailable",
]

log = logging.getLogger(__name__)

FORWARD_TIMEOUT_S = 40.0
"""How long the receiving process waits for the holder's answer: above the 30 s a command may
wait there for its pipeline, so a slow holder's answer is not mistaken for a dead one."""

FORWARDED_HEADER = "X-Gateway-Forwarded"
"""Marks a command one process forwarded to another (never forwarded again)."""

RETRY_AFTER_S = 5
"""``Retry-After`` of a command no process can run now: a takeover is done within seconds."""


class OwnedElsewhere(Exception):
    """The command concerns a guard whose partition another process holds (its API at
    ``holder_url``): the API answers it with ``forward``."""

    def __init__(self, holder_url: str) -> None:
        super().__init__(holder_url)
        self.holder_url = holder_url


_SENT_ON = ("authorization", "content-type", "accept", "accept-language", "user-agent")
_SENT_BACK = ("content-type", "retry-after")


def unavailable(detail: str) -> JSONResponse:
    """``503`` with ``Retry-After``: the guard's commands cannot be run anywhere right now."""
    return JSONResponse(
        status_code=503,
        content={"detail": detail},
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def forward(
    request: Request,
    holder_url: str,
    *,
    peer_auth: PeerAuth | None = None,
    timeout_s: float = FORWARD_TIMEOUT_S,
) -> Response:
    """Send ``request`` (its body as ``BodyLimit`` kept it) to the same path at
    ``holder_url`` and answer with what the holder answers; ``503`` (``unavailable``) when
    the holder does not answer within ``timeout_s`` or the command was forwarded already.
    ``peer_auth``: this node's key, vouching for the caller's address to the holder."""
    if FORWARDED_HEADER in request.headers:
        return unavailable(
            "the guard's partition is moving between processes; try again in a few seconds"
        )
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    url = holder_url.rstrip("/") + raw_path.decode("latin-1")
    if request.url.query:
        url += "?" + request.url.query
    headers = {name: request.headers[name] for name in _SENT_ON if name in request.headers}
    headers[FORWARDED_HEADER] = "1"
    body: bytes = getattr(request.state, "body", b"")
    if peer_auth is not None:
        headers.update(peer_auth.vouch(request, body))
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            reply = await client.request(request.method, url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        log.warning("command not forwarded to %s: %s", holder_url, exc or type(exc).__name__)
        return unavailable(
            f"the process holding the guard's partition ({holder_url}) does not answer; "
            "it is taken over within seconds: try again"
        )
    back = {name: reply.headers[name] for name in _SENT_BACK if name in reply.headers}
    return Response(reply.content, status_code=reply.status_code, headers=back)
