"""Broker URLs: ``mqtt://[user:pass@]host[:port]`` and ``mqtts://...`` (TLS).

The broker is chosen by a URL like every other transport, so pointing the gateway at a test
broker or a production one is a configuration change only.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from gateway.errors import ConfigError

__all__ = ["DEFAULT_PORTS", "BrokerAddress", "parse_broker_url"]

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where a broker listens and, optionally, the credentials given in its URL.

    ``tls`` is true for ``mqtts://``. ``password`` is excluded from ``repr`` so the address can be
    logged safely; ``url`` likewise omits the credentials.
    """

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        user = f", username={self.username!r}" if self.username is not None else ""
        return f"BrokerAddress(host={self.host!r}, port={self.port}, tls={self.tls}{user})"

    @property
    def url(self) -> str:
        """The URL without credentials (for logs and messages)."""
        scheme = "mqtts" if self.tls else "mqtt"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse a broker URL; raise ``ConfigError`` naming the problem for anything else.

    Accepted: scheme ``mqtt`` (default port 1883) or ``mqtts`` (TLS, default port 8883), a host,
    an optional port in 1..65535, optional percent-encoded ``user[:password]@``. A path other than
    ``/``, a query or a fragment is refused: they would be silently ignored otherwise.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"broker URL is empty: {url!r}")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"broker URL {url!r} is malformed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ConfigError(
            f"broker URL {url!r} has scheme {parts.scheme!r}; expected mqtt:// or mqtts://"
        )
    if not parts.hostname:
        raise ConfigError(f"broker URL {url!r} has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"broker URL {url!r} has a path, query or fragment; none is allowed")
    if port == 0:
        raise ConfigError(f"broker URL {url!r} has port 0")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if username == "":
        raise ConfigError(f"broker URL {url!r} has an empty user name")
    return BrokerAddress(
        host=parts.hostname,
        port=port if port is not None else DEFAULT_PORTS[scheme],
        tls=scheme == "mqtts",
        username=username,
        password=password,
    )
