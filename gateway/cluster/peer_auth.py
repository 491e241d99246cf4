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
address, as for any request. A node's key is read from the database once and kept while its
row says it is live; a signature the kept key does not match has the key read again before it
is refused, so a node restarted under the same id with a new key is believed all the same.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from starlette.requests import Request

from gateway.clock import Clock

__all__ = [
    "FORWARDED_BY_HEADER",
    "FORWARDED_FOR_HEADER",
    "SIGNATURE_HEADER",
    "PeerAuth",
    "PeerKey",
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


class PeerKey(NamedTuple):
    """A live node's signing key, and the end of its last heartbeat (``cluster_nodes``)."""

    key: str
    live_until: datetime


class PeerAuth:
    """This node's signing key (``node_id``, ``key``), and ``key_of(node id)``: the key of a
    live node of the gateway (``None`` for a node not live or unknown), read from the
    database; the keys read are kept per node until their ``live_until`` on ``clock``."""

    def __init__(
        self,
        node_id: str,
        key: str,
        key_of: Callable[[str], PeerKey | None],
        clock: Clock,
    ) -> None:
        self._node_id = node_id
        self._key = key
        self._key_of = key_of
        self._clock = clock
        self._keys: dict[str, PeerKey] = {}
        """Node id → its key as last read. An entry is set or removed whole (each a single
        dict operation), so the API's threads share it without a lock."""

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
        body: bytes = getattr(request.state, "body", b"")

        def signed_with(key: str) -> bool:
            expected = _signature(key, node, claimed, request.method, request.url.path, body)
            return hmac.compare_digest(signature, expected)

        if node and self._signed_by(node, signed_with):
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

    def _signed_by(self, node: str, signed_with: Callable[[str], bool]) -> bool:
        """Whether live ``node`` signed: with its kept key, else with its key read again (a
        node restarted since draws a new one; a node no longer live has none)."""
        kept = self._keys.get(node)
        if kept is not None and self._clock.now() < kept.live_until and signed_with(kept.key):
            return True
        read = self._key_of(node)
        if read is None:
            self._keys.pop(node, None)
            return False
        self._keys[node] = read
        return signed_with(read.key)


def _signature(key: str, node: str, client: str, method: str, path: str, body: bytes) -> str:
    message = "\n".join((node, client, method, path, hashlib.sha256(body).hexdigest()))
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
