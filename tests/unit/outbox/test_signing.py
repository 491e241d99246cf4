"""Body signing: HMAC-SHA256 as published in RFC 4231, in the ``sha256=<hex>`` header form."""

from __future__ import annotations

import pytest

from gateway.outbox.signing import sign

# RFC 4231 section 4.2 (test case 1) and 4.3 (test case 2), HMAC-SHA-256.
RFC4231_CASE_1 = (
    b"\x0b" * 20,
    b"Hi There",
    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
)
RFC4231_CASE_2 = (
    b"Jefe",
    b"what do ya want for nothing?",
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
)


@pytest.mark.parametrize(("key", "data", "digest"), [RFC4231_CASE_1, RFC4231_CASE_2])
def test_signature_matches_rfc4231_vectors(key: bytes, data: bytes, digest: str) -> None:
    assert sign(key, data) == f"sha256={digest}"


def test_text_secret_is_its_utf8_bytes() -> None:
    assert sign("Jefe", b"what do ya want for nothing?") == f"sha256={RFC4231_CASE_2[2]}"
