"""The gateway's small error tree: every failure we raise on purpose is a ``GatewayError``."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "Conflict",
    "DecodeError",
    "DeviceHeldElsewhere",
    "GatewayError",
    "GuardHeldElsewhere",
    "InvalidRequest",
    "NotFound",
    "TransportError",
]


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """A configuration (settings, site file) is invalid; the message names the place and problem."""


class TransportError(GatewayError):
    """A transport (broker, serial line, HTTP endpoint) failed or could not be opened."""


class DeviceHeldElsewhere(TransportError):
    """A local device (a serial or NFC reader's tty) is open in another process, which holds its
    lock: this opener stands by, and its reader is not lost (no outage is reported)."""


class DecodeError(GatewayError):
    """Input bytes are not a valid frame/payload; the message says why.

    ``raw`` keeps the offending input so it can be logged as hex and kept as evidence.
    """

    def __init__(self, reason: str, raw: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


class NotFound(GatewayError):
    """The guard, leave, alert or shift named does not exist."""


class Conflict(GatewayError):
    """The change is not allowed in the current state (e.g. a leave already cancelled)."""


class GuardHeldElsewhere(Conflict):
    """In a partitioned gateway, the guard's rules no longer run in this process: his partition
    moved to another (or is moving) since the command was let in. Nothing was changed; the
    caller is sent where he is held now (``gateway.api.app``)."""

    def __init__(self, guard_id: str) -> None:
        super().__init__(f"guard {guard_id!r} is no longer held by this process")
        self.guard_id = guard_id


class InvalidRequest(GatewayError):
    """The request contradicts itself (e.g. a leave that ends before it starts)."""
