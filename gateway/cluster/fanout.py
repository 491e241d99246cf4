"""A partitioned gateway's whereabouts gathered from every process.

Each process knows the guards it holds, from its pipeline's memory. The process a leader asks
(``GET /whereabouts``, the live page's ``/map/whereabouts``) answers with its own guards and
those of every other process holding partitions, asked over HTTP at the API URL it published
in ``cluster_nodes``, with the caller's own ``Authorization`` (so each process filters by the
caller's scope as it would for him) and ``local=true`` (its own guards only: no process asks
on). Each is given ``PEER_TIMEOUT_S``; one that fails or does not answer in time is named in
``nodes.missing`` and its guards are left out, so the answer says it is partial rather than
wait; partitions nobody holds at that moment (a takeover) are named in
``nodes.unheld_partitions``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx

__all__ = ["PEER_TIMEOUT_S", "Peers", "gather_whereabouts"]

log = logging.getLogger(__name__)

PEER_TIMEOUT_S = 3.0
"""How long the asked process waits for each other process's own whereabouts."""

Peers = Callable[[], tuple[Mapping[str, str], list[int]]]
"""The other processes holding partitions (node id → API URL) and the partitions unheld."""


def gather_whereabouts(
    own: dict[str, Any],
    peers: Peers,
    path: str,
    params: Mapping[str, str],
    authorization: str | None,
    *,
    timeout_s: float = PEER_TIMEOUT_S,
) -> dict[str, Any]:
    """``own`` (this process's answer at ``path``) with the guards of every other process,
    each asked at ``path`` with ``params`` and ``local=true``; one guard per shift, in guard
    order; ``nodes`` says who answered."""
    others, unheld = peers()
    guards = {guard["shift_id"]: guard for guard in own["guards"]}
    answered: list[str] = []
    missing: list[str] = []
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(timeout=timeout_s, headers=headers, follow_redirects=False) as client:
        for node_id, url in sorted(others.items()):
            try:
                reply = client.get(url.rstrip("/") + path, params={**params, "local": "true"})
                reply.raise_for_status()
                theirs = reply.json()["guards"]
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                log.warning("whereabouts of node %s (%s) not had: %s", node_id, url, exc)
                missing.append(node_id)
                continue
            answered.append(node_id)
            for guard in theirs:
                guards.setdefault(guard["shift_id"], guard)  # a guard moving: shown once
    return {
        **own,
        "guards": sorted(guards.values(), key=lambda g: (g["guard_id"], g["shift_id"])),
        "nodes": {"answered": answered, "missing": missing, "unheld_partitions": unheld},
    }
