"""Where the broker is, from a URL, and how a paho publication is settled."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

__all__ = ["BrokerAddress", "parse_broker_url", "settled"]


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is: from ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://``."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse a broker URL; raise ``ValueError`` for another scheme or a missing host."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp"):
        raise ValueError(f"broker URL must start with mqtt:// or mqtts://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"broker URL has no host: {url!r}")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def settled(info: mqtt.MQTTMessageInfo) -> bool:
    """True when acknowledged, or when paho already reports the publication as failed (it was
    sent while disconnected; paho retries it on reconnection, so there is nothing to wait on)."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True
