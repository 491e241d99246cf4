"""A management-core stub: a real HTTP server that records the CloudEvents the gateway posts.

It checks what a real core must check, and can misbehave on demand to exercise delivery:

* ``POST`` to any path not under ``/_stub/`` (conventionally ``/events``) is an event delivery.
  The body must carry ``X-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``; a missing or
  wrong signature is answered 401 and counted in :attr:`CoreStub.rejected`. A valid event whose
  ``id`` was seen before is answered 200, not stored again, and its id appended to
  :attr:`CoreStub.duplicates` (this is how a core makes at-least-once delivery exactly-once).
* Faults: :meth:`CoreStub.fail_next` answers the next *n* deliveries with an error status,
  :meth:`CoreStub.refuse_type` answers every correctly signed event of one type with a 4xx (a
  core a version behind the gateway's event catalogue: 422 to a type it does not know),
  :meth:`CoreStub.set_down` closes the listening socket (connection refused) and reopens it on the
  same port, :attr:`CoreStub.delay_s` delays every delivery answer.
* Control over HTTP, for a bench in another process: ``GET /_stub/events``,
  ``POST /_stub/fail?count=N&status=503``, ``POST /_stub/refuse?type=T&status=422`` (status 0:
  take the type again), ``POST /_stub/delay?seconds=S``,
  ``POST /_stub/down?seconds=S`` (refuse connections for S seconds), ``POST /_stub/reset``.

Connections are closed after each answer (HTTP/1.0), so "down" takes effect at once even for a
client holding a connection pool. Signature checking is written here on its own, not imported from
the gateway, so a mistake in the gateway's signing cannot hide behind the same mistake here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fwsim.http_serving import ServedStub

__all__ = ["CoreStub"]

log = logging.getLogger(__name__)

_CONTROL = "/_stub/"


def _signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    if header is None or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode("ascii", "replace"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], stub: CoreStub) -> None:
        self.stub = stub
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def _reply(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The gateway gave up waiting (a "slow core" test): the event is recorded all the
            # same, and the retry will show up as a duplicate, which is the point.
            pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == _CONTROL + "events":
            self._reply(200, self.server.stub.snapshot())
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self._body()
        if url.path.startswith(_CONTROL):
            self._control(url.path[len(_CONTROL) :], parse_qs(url.query))
            return
        status, payload = self.server.stub._deliver(body, self.headers.get("X-Signature-256"))
        self._reply(status, payload)

    def _control(self, action: str, query: dict[str, list[str]]) -> None:
        stub = self.server.stub

        def arg(name: str, default: str) -> str:
            return query.get(name, [default])[0]

        try:
            if action == "fail":
                stub.fail_next(int(arg("count", "1")), status=int(arg("status", "503")))
            elif action == "refuse":
                status = int(arg("status", "422"))
                stub.refuse_type(arg("type", ""), status=status or None)
            elif action == "delay":
                stub.delay_s = float(arg("seconds", "0"))
            elif action == "down":
                seconds = float(arg("seconds", "1"))
                # After answering: shutting down from inside a request would refuse our own reply.
                threading.Timer(0.05, stub._down_for, args=(seconds,)).start()
            elif action == "reset":
                stub.reset()
            else:
                self._reply(404, {"error": f"unknown control {action!r}"})
                return
        except ValueError as exc:
            self._reply(400, {"error": str(exc)})
            return
        self._reply(200, {"ok": True})


class CoreStub(ServedStub):
    """The stub; ``start()`` returns the URL to post events to (``http://127.0.0.1:<port>/events``).

    All attributes are safe to read from any thread; the lists returned are copies.
    """

    def __init__(self, secret: str | bytes, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self._secret = secret.encode("utf-8") if isinstance(secret, str) else secret
        self._cond = threading.Condition()
        self._events: list[dict[str, Any]] = []
        self._ids: set[str] = set()
        self._duplicates: list[str] = []
        self._deliveries: list[tuple[str, bytes]] = []
        self._rejected = 0
        self._failed = 0
        self._received = 0
        self._fail_remaining = 0
        self._fail_status = 503
        self._refuse: dict[str, int] = {}
        self._refused: list[str] = []
        self.delay_s: float = 0.0

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> str:
        """Listen (port 0 picks a free one) and return the delivery URL."""
        self._listen()
        return self.url

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return self.base_url + "/events"

    def _listen(self) -> None:
        self._serve(lambda address: _Server(address, self), "core-stub")

    # -- faults -------------------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next ``n`` deliveries with ``status`` (before checking anything)."""
        if n < 0 or not 100 <= status <= 599:
            raise ValueError("need n >= 0 and an HTTP status")
        with self._cond:
            self._fail_remaining = n
            self._fail_status = status

    def refuse_type(self, event_type: str, status: int | None = 422) -> None:
        """Answer every correctly signed event of ``event_type`` with ``status`` (a 4xx), not
        storing it; ``None``: take the type again."""
        if status is not None and not 400 <= status <= 499:
            raise ValueError("refuse with a 4xx status")
        with self._cond:
            if status is None:
                self._refuse.pop(event_type, None)
            else:
                self._refuse[event_type] = status

    def set_down(self, down: bool) -> None:
        """``True``: close the listening socket (connections refused); ``False``: listen again on
        the same port."""
        if down:
            self.stop()
        else:
            self._listen()

    def _down_for(self, seconds: float) -> None:
        self.set_down(True)
        threading.Timer(seconds, self.set_down, args=(False,)).start()

    def reset(self) -> None:
        """Forget everything received and every pending fault."""
        with self._cond:
            self._events.clear()
            self._ids.clear()
            self._duplicates.clear()
            self._deliveries.clear()
            self._refuse.clear()
            self._refused.clear()
            self._rejected = self._failed = self._received = self._fail_remaining = 0
            self.delay_s = 0.0

    # -- what was received --------------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        """Distinct events accepted, in arrival order (each id once)."""
        with self._cond:
            return list(self._events)

    @property
    def duplicates(self) -> list[str]:
        """Ids received again after being accepted, one entry per repeat."""
        with self._cond:
            return list(self._duplicates)

    @property
    def deliveries(self) -> list[tuple[str, bytes]]:
        """``(id, exact body)`` of every correctly signed delivery, repeats included."""
        with self._cond:
            return list(self._deliveries)

    @property
    def rejected(self) -> int:
        """Deliveries refused with 401 for a missing or wrong signature."""
        with self._cond:
            return self._rejected

    @property
    def refused(self) -> list[str]:
        """Ids of the deliveries answered by :meth:`refuse_type`, one entry per delivery."""
        with self._cond:
            return list(self._refused)

    @property
    def failed(self) -> int:
        """Deliveries answered with an injected error status."""
        with self._cond:
            return self._failed

    @property
    def received(self) -> int:
        """Every delivery request that reached the stub, whatever the answer."""
        with self._cond:
            return self._received

    def snapshot(self) -> dict[str, Any]:
        """Everything at once, as served by ``GET /_stub/events``."""
        with self._cond:
            return {
                "events": list(self._events),
                "duplicates": list(self._duplicates),
                "rejected": self._rejected,
                "refused": list(self._refused),
                "failed": self._failed,
                "received": self._received,
            }

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` is true (re-checked after every delivery) or ``timeout``
        seconds pass; return the predicate's last value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))
            return True

    # -- the delivery endpoint ----------------------------------------------------------------

    def _deliver(self, body: bytes, signature: str | None) -> tuple[int, dict[str, Any]]:
        if self.delay_s > 0:
            time.sleep(self.delay_s)
        with self._cond:
            self._received += 1
            try:
                if self._fail_remaining > 0:
                    self._fail_remaining -= 1
                    self._failed += 1
                    return self._fail_status, {"error": "injected failure"}
                if not _signature_ok(self._secret, body, signature):
                    self._rejected += 1
                    log.warning("core stub: refused a delivery with a bad signature")
                    return 401, {"error": "bad signature"}
                try:
                    event = json.loads(body)
                except ValueError:
                    return 400, {"error": "body is not JSON"}
                if not isinstance(event, dict) or not isinstance(event.get("id"), str):
                    return 400, {"error": "not a CloudEvent (no id)"}
                event_id: str = event["id"]
                refusal = self._refuse.get(str(event.get("type")))
                if refusal is not None:
                    self._refused.append(event_id)
                    return refusal, {"error": f"unknown event type {event.get('type')!r}"}
                self._deliveries.append((event_id, body))
                if event_id in self._ids:
                    self._duplicates.append(event_id)
                    return 200, {"status": "duplicate", "id": event_id}
                self._ids.add(event_id)
                self._events.append(event)
                return 200, {"status": "accepted", "id": event_id}
            finally:
                self._cond.notify_all()
