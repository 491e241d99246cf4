"""The ``RunningBroker`` base shared by the mosquitto and amqtt private brokers."""

from __future__ import annotations

import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from drivers.mqtt._probe import connack_code
from drivers.mqtt.url import BrokerAddress
from gateway.errors import TransportError

__all__ = ["RunningBroker", "free_port", "wait_for_broker"]

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_broker(port: int, timeout_s: float, alive: Callable[[], bool] | None = None) -> bool:
    """Poll until a broker on ``127.0.0.1:port`` answers an MQTT CONNECT; False after ``timeout_s``.

    Any CONNACK counts (a broker with password users refuses the anonymous probe, but answers).
    A bare TCP accept does not: another program may hold the port while ours fails to bind.
    ``alive`` may be a zero-argument callable returning False once the server died, which ends
    the wait early.
    """
    address = BrokerAddress(HOST, port)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        if connack_code(address, timeout=0.5) is not None:
            return True
        time.sleep(0.02)
    return False


class RunningBroker(ABC):
    """A private broker listening on ``127.0.0.1:port``.

    ``restart()`` stops it and starts it again on the same port (clients see the connection drop
    and must reconnect). ``stop()`` is idempotent and frees every resource (process, thread,
    temporary files). Use as a context manager to stop it on exit.
    """

    kind: Literal["mosquitto", "amqtt"]

    def __init__(self, port: int, startup_timeout_s: float) -> None:
        self._port = port
        self._startup_timeout_s = startup_timeout_s

    @property
    def port(self) -> int:
        """The TCP port it listens on (127.0.0.1 only)."""
        return self._port

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        return f"mqtt://{HOST}:{self._port}"

    @abstractmethod
    def start(self) -> None:
        """Start listening; return once the port accepts connections, else ``TransportError``."""

    @abstractmethod
    def stop(self) -> None:
        """Stop listening and free everything; safe to call twice."""

    @property
    @abstractmethod
    def running(self) -> bool:
        """Whether the broker is up."""

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.halt()
        self.start()

    def halt(self) -> None:
        """Stop listening but keep what ``start()`` needs to come back (config, saved sessions).

        Brokers whose ``stop()`` keeps nothing worth keeping use ``stop()`` itself.
        """
        self.stop()

    def kill(self) -> None:
        """Stop abruptly, as a crash does (nothing saved beyond what the broker saved already),
        keeping what ``start()`` needs. Brokers that save nothing (amqtt) use ``halt()``."""
        self.halt()

    def _startup_failed(self, detail: str) -> TransportError:
        return TransportError(
            f"{self.kind} broker on 127.0.0.1:{self._port} did not start within "
            f"{self._startup_timeout_s:.1f} s: {detail}"
        )

    def __enter__(self) -> RunningBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.url} {state}>"
