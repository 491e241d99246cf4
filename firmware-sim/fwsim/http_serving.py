"""An HTTP stub's life cycle: a threading server on a daemon thread, started once, stopped
idempotently, usable as a context manager. The management-core and group-robot stubs share it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Self

__all__ = ["ServedStub"]


class ServedStub:
    """Base of a stub served over HTTP on ``host:port`` (port 0 picks a free one).

    A subclass calls ``_serve`` from its ``start`` with a factory of its server (which gets the
    address) and returns the URL its clients use.
    """

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Listen and return the URL clients use."""
        raise NotImplementedError

    def _serve(self, make: Callable[[tuple[str, int]], ThreadingHTTPServer], name: str) -> None:
        if self._server is not None:
            return
        server = make((self._host, self._port))
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"{name}-{self._port}",
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the socket and stop the serving thread (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}"
