"""Signing of delivered bodies: ``X-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``.

The same scheme as GitHub webhooks, so a management core can reuse code it already has. The
signature covers the exact bytes on the wire; a receiver must verify *before* parsing the JSON.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "sign"]

SIGNATURE_HEADER = "X-Signature-256"
_PREFIX = "sha256="


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, body: bytes) -> str:
    """Return the header value ``sha256=<lower-case hex HMAC-SHA256(secret, body)>``."""
    return _PREFIX + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()
