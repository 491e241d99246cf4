"""``gather_whereabouts`` over real HTTP: the other processes' guards merged (one per shift, in
guard order), the caller's token and ``local=true`` passed on, and a process that refuses,
is gone or never answers named in ``nodes.missing`` (its guards left out) instead of failing
or stalling the answer. Two processes answering the real ``/whereabouts`` are tested end to end
in ``tests/e2e/test_cluster_relay_end_to_end.py``."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from drivers.mqtt.broker import free_port
from gateway.cluster.fanout import gather_whereabouts


def guard(guard_id: str, shift: str) -> dict[str, Any]:
    return {"guard_id": guard_id, "shift_id": shift, "state": "on_post"}


class Peer(BaseHTTPRequestHandler):
    """Answers as another process would: its guards to the token ``Bearer good``, 401 else."""

    guards: ClassVar[list[dict[str, Any]]] = []
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        Peer.seen.append((self.path, self.headers.get("Authorization")))
        status, body = (200, {"guards": Peer.guards})
        if self.headers.get("Authorization") != "Bearer good":
            status, body = (401, {"detail": "bad token"})
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def peer_serving(guards: list[dict[str, Any]]) -> Iterator[str]:
    Peer.guards, Peer.seen = guards, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Peer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def peers_of(urls: Mapping[str, str], unheld: list[int] | None = None) -> Any:
    return lambda: (urls, unheld or [])


OWN = {"time": "2026-03-02T00:10:00+00:00", "guards": [guard("g-2", "s2")]}


def test_the_other_processes_guards_are_merged_once_each_in_guard_order() -> None:
    theirs = [guard("g-3", "s3"), guard("g-1", "s1"), guard("g-2", "s2")]  # g-2 moving
    with peer_serving(theirs) as url:
        merged = gather_whereabouts(
            OWN,
            peers_of({"node-b": url}, [5]),
            "/map/whereabouts",
            {"datum": "gcj02"},
            "Bearer good",
        )
    assert [(g["guard_id"], g["shift_id"]) for g in merged["guards"]] == [
        ("g-1", "s1"),
        ("g-2", "s2"),
        ("g-3", "s3"),
    ]
    assert merged["nodes"] == {"answered": ["node-b"], "missing": [], "unheld_partitions": [5]}
    assert merged["time"] == OWN["time"]
    assert Peer.seen == [("/map/whereabouts?datum=gcj02&local=true", "Bearer good")]


def test_a_process_that_refuses_is_gone_or_never_answers_is_named_missing() -> None:
    silent = socket.socket()  # listens, never accepts: the request waits for its timeout
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        with peer_serving([guard("g-9", "s9")]) as url:
            peers = {
                "refusing": url,  # answers 401 to this token
                "gone": f"http://127.0.0.1:{free_port()}",
                "stuck": f"http://127.0.0.1:{silent.getsockname()[1]}",
            }
            merged = gather_whereabouts(
                OWN, peers_of(peers), "/whereabouts", {}, "Bearer expired", timeout_s=0.5
            )
    finally:
        silent.close()
    assert [g["guard_id"] for g in merged["guards"]] == ["g-2"]
    assert merged["nodes"]["answered"] == []
    assert merged["nodes"]["missing"] == ["gone", "refusing", "stuck"]
