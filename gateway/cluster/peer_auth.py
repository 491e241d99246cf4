"""Who really sent a command one process forwarded to another: the forwarding process vouches
for its caller's address, and the holder believes it only from a live peer.

A command for a guard held elsewhere reaches the holder from the forwarding process
(``gateway.cluster.forward``), so the holder's own view of the client is that process's
address. The audit must name the leader's phone or the control room instead. So the forward
carries the caller's address (``FORWARDED_FOR_HEADER``), the forwarding node's id
(``FORWARDED_BY_HEADER``) and an HMAC-SHA256 (``SIGNATURE_HEADER``) over the node id, the
address, the method, the path and the body's digest, under the key that node drew at its
start and recorded in its ``cluster_nodes`` row (``LeaseStore.peer_key``), which only the
gateway's processes read.

Contract: :meth:`PeerAuth.client_of` gives the forwarded address only when the signature
matches the key of the live node it names; otherwise (a caller setting the headers on a
direct call, a forward from a node no longer live, a single process) the connection's own
address, as for any request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable

from starlette.requests import Request

__all__ = [
    "FORWARDED_BY_HEADER",
    "FORWARDED_FOR_HEADER",
    "SIGNATURE_HEADER",
    "PeerAuth",
    "connection_address",
]

log = logging.getLogger(__name__)

FORWARDED_FOR_HEADER = "X-Gateway-Forwarded-For"
"""The address of the client whose command a process forwarded."""
FORWARDED_BY_HEADER = "X-Gateway-Forwarded-By"
"""The node id of the process that forwarded it."""
SIGNATURE_HEADER = "X-Gateway-Forwarded-Signature"
"""That node's HMAC-SHA256 (hex) over the forwarded command and its client's address."""

_UNKNOWN = "-"
"""Stands for a client whose address the forwarding process did not know."""


def connection_address(request: Request) -> str | None:
    """The address of the peer of ``request``'s connection."""
    return request.client.host if request.client else None


class PeerAuth:
    """This node's signing key (``node_id``, ``key``), and ``key_of(node id)``: the key of a
    live node of the gateway (``None`` for a node not live or unknown)."""

    def __init__(self, node_id: str, key: str, key_of: Callable[[str], str | None]) -> None:
        self._node_id = node_id
        self._key = key
        self._key_of = key_of

    def vouch(self, request: Request, body: bytes) -> dict[str, str]:
        """The headers that carry ``request``'s client to the process it is forwarded to."""
        client = connection_address(request) or _UNKNOWN
        return {
            FORWARDED_FOR_HEADER: client,
            FORWARDED_BY_HEADER: self._node_id,
            SIGNATURE_HEADER: _signature(
                self._key, self._node_id, client, request.method, request.url.path, body
            ),
        }

    def client_of(self, request: Request) -> str | None:
        """The client a command is audited as: the forwarded address when a live peer signed
        it, else the connection's own address."""
        claimed = request.headers.get(FORWARDED_FOR_HEADER)
        if claimed is None:
            return connection_address(request)
        node = request.headers.get(FORWARDED_BY_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        key = self._key_of(node) if node else None
        body: bytes = getattr(request.state, "body", b"")
        if key is not None and hmac.compare_digest(
            signature, _signature(key, node, claimed, request.method, request.url.path, body)
        ):
            return None if claimed == _UNKNOWN else claimed
        address = connection_address(request)
        log.warning(
            "a command from %s claims to be forwarded for %s by node %r without a valid "
            "signature: audited as from %s",
            address,
            claimed,
            node,
            address,
        )
        return address


def _signature(key: str, node: str, client: str, method: str, path: str, body: bytes) -> str:
    message = "\n".join((node, client, method, path, hashlib.sha256(body).hexdigest()))
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
