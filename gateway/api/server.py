"""Serving an app on a background thread: the API and ``/iclock`` of ``guard-gateway run``,
the demo and tests."""

from __future__ import annotations

import socket
import threading

import uvicorn
from fastapi import FastAPI

__all__ = ["ApiServer", "free_port", "listening_socket"]


class ApiServer:
    """An app (the API, or the ``/iclock`` routes on their own) served by uvicorn on a
    background thread: by ``guard-gateway run``, the demo and tests."""

    def __init__(
        self,
        app: FastAPI,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
    ) -> None:
        """``sock``: a socket already listening (``listening_socket``) to serve on, so that
        ``guard-gateway run`` learns that its port is taken before it starts anything."""
        self.host = host
        self.port = sock.getsockname()[1] if sock is not None else port or free_port(host)
        # An open live page streams forever: give its stream a moment, then end it on stop.
        # The client is the TCP peer: uvicorn would otherwise take it from X-Forwarded-For of
        # any local caller, so one on the host could speak for a PUSH terminal bound to its
        # address, or be audited as another client (docs/device-contract.md, docs/api.md).
        config = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
            proxy_headers=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]} if sock is not None else {},
            name="api",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> str:
        """Serve and wait until the socket accepts connections; returns the base URL."""
        self._thread.start()
        waited = threading.Event()
        for _ in range(int(timeout_s / 0.05)):
            if self._server.started:
                return self.url
            waited.wait(0.05)
        raise RuntimeError(f"API did not start on {self.url}")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` and listening, as uvicorn would bind it;
    ``OSError`` (the port taken, the address not this machine's) at once."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restarts bind
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock
