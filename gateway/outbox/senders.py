"""Senders: the port through which the delivery worker hands one event to one destination.

A sender either returns (the destination has the event) or raises :class:`DeliveryFailed`. It never
decides to drop an event: the worker retries every failure, a non-retryable one on the longest
back-off, so a misconfigured core loses nothing and the fix is picked up on the next attempt. A
failure ``refused`` for the event's own content is kept aside by the worker, never dropped
(``gateway.outbox.refused``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import httpx

from gateway.outbox.cloudevents import CONTENT_TYPE
from gateway.outbox.signing import SIGNATURE_HEADER, sign

__all__ = [
    "REFUSED_FOR_CONTENT",
    "DeliveryFailed",
    "HttpCoreSender",
    "OutboundEvent",
    "PendingEvent",
    "Sender",
]

log = logging.getLogger(__name__)


class OutboundEvent(Protocol):
    """What a sender sees of an outbox row (``OutboxRow`` and :class:`PendingEvent` both fit)."""

    @property
    def body(self) -> str: ...
    @property
    def event_id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def subject(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """A detached copy of an outbox row, handed to the sender outside any DB transaction."""

    seq: int
    event_id: str
    destination: str
    subject: str
    type: str
    body: str
    attempts: int


class DeliveryFailed(Exception):
    """The destination did not take the event.

    ``retryable`` False means "retrying soon will not help" (e.g. 401/404): the worker still
    retries, on its longest back-off, and logs loudly. ``refused`` means the destination
    understood the request and refused *this event* (its content), so every other event may
    still go: the worker sets the row aside as refused instead of holding its subject behind
    it (``gateway.outbox.refused``); ``refused`` implies not ``retryable``. ``retry_after_s`` is
    the destination's own hint (``Retry-After``), honoured up to the worker's longest back-off.
    """

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        retry_after_s: float | None = None,
        refused: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable and not refused
        self.retry_after_s = retry_after_s
        self.refused = refused


class Sender(Protocol):
    """Delivers one event; returns on success, raises :class:`DeliveryFailed` otherwise."""

    def send(self, event: OutboundEvent) -> None: ...


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date: not worth parsing, the back-off applies


REFUSED_FOR_CONTENT = frozenset({400, 413, 415, 422})
"""Answers by which the core refuses the event itself, not the gateway: a malformed or unknown
body (400; 422, e.g. a type newer than the core's catalogue), too large (413), a content type
it does not take (415). Any other event may still be taken, so the event is set aside as
refused and its guard's later events go on. 401, 403, 404 and 405 say the secret or the URL is
wrong: every event would fail alike, so they are retried, everything waiting, as a core down."""


class HttpCoreSender:
    """POSTs the CloudEvent to the management core, signed with HMAC-SHA256.

    Request: ``Content-Type: application/cloudevents+json``, ``X-Event-Id: <id>``,
    ``X-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``; the body is the stored bytes.

    Answers: 2xx → delivered; 409 → delivered (the core already has this id); 408, 429, 5xx and
    transport errors (refused, reset, timeout) → retryable; 400, 413, 415, 422 → this event
    refused (:data:`REFUSED_FOR_CONTENT`; the worker logs it and sets it aside); any other status
    (3xx, 401, 403, 404, 405, ...) → non-retryable, logged at ERROR, retried on the longest
    back-off (never dropped), the guard's later events waiting behind it.

    One pooled ``httpx.Client``; call :meth:`close` when done (or use as a context manager).
    """

    def __init__(self, url: str, secret: str | bytes, timeout_s: float = 5.0) -> None:
        self._url = url
        self._secret = secret
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def send(self, event: OutboundEvent) -> None:
        body = event.body.encode("utf-8")
        headers = {
            "Content-Type": CONTENT_TYPE,
            "X-Event-Id": event.event_id,
            SIGNATURE_HEADER: sign(self._secret, body),
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}", retryable=True) from exc
        status = response.status_code
        if 200 <= status < 300 or status == 409:
            return
        reason = f"HTTP {status} from core: {response.text[:200]}"
        if status in (408, 429) or status >= 500:
            raise DeliveryFailed(reason, retryable=True, retry_after_s=_retry_after(response))
        if status in REFUSED_FOR_CONTENT:
            raise DeliveryFailed(reason, retryable=False, refused=True)
        log.error(
            "core refused event %s (%s) with HTTP %d; will keep retrying on the long back-off: %s",
            event.event_id,
            event.type,
            status,
            response.text[:200],
        )
        raise DeliveryFailed(reason, retryable=False)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> HttpCoreSender:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
