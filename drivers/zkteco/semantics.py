"""What ZKTeco's numbers mean, shared by both protocols, and the identity of a punch.

Punch state (the "attendance state" key chosen on the terminal; PUSH ``Status``, binary
``punch``): 0 check-in, 1 check-out, 2 break-out, 3 break-in, 4 overtime-in, 5 overtime-out.
Any other value is not a punch kind we can act on and the caller rejects the record.

Verify mode (how the person was recognised; PUSH ``Verify``, binary ``status`` byte on newer
firmware) uses the TFT firmware's verify-type numbering: 1 fingerprint, 3 password, 4 card,
15 face, 25 palm. 0 is "any of finger/password/card" on new firmware and always 0 on old
firmware, so it says nothing: ``UNKNOWN``. 2 (user id typed) and the combined modes (5-14,
16-24) map to ``OTHER``; the raw number stays in the record's ``raw`` evidence.
"""

from __future__ import annotations

from types import MappingProxyType

from gateway.records import Punch, PunchKind, VerifyMode

__all__ = ["PUNCH_KINDS", "VERIFY_MODES", "punch_kind", "record_key", "verify_mode"]

PUNCH_KINDS: MappingProxyType[int, PunchKind] = MappingProxyType(
    {
        0: PunchKind.CHECK_IN,
        1: PunchKind.CHECK_OUT,
        2: PunchKind.BREAK_OUT,
        3: PunchKind.BREAK_IN,
        4: PunchKind.OVERTIME_IN,
        5: PunchKind.OVERTIME_OUT,
    }
)

VERIFY_MODES: MappingProxyType[int, VerifyMode] = MappingProxyType(
    {
        0: VerifyMode.UNKNOWN,
        1: VerifyMode.FINGERPRINT,
        3: VerifyMode.PASSWORD,
        4: VerifyMode.CARD,
        15: VerifyMode.FACE,
        25: VerifyMode.PALM,
    }
)


def punch_kind(code: int) -> PunchKind | None:
    """The punch kind for a ZKTeco punch state, or ``None`` when the state is not 0-5."""
    return PUNCH_KINDS.get(code)


def verify_mode(code: int | None) -> VerifyMode:
    """The verify mode for a ZKTeco verify number; never fails (unknown numbers are ``OTHER``)."""
    if code is None:
        return VerifyMode.UNKNOWN
    return VERIFY_MODES.get(code, VerifyMode.OTHER)


def record_key(punch: Punch) -> str:
    """The stable identity of a punch: terminal, person, device time (UTC, to the second), kind.

    A terminal that uploads the same record twice (a PUSH retry after a lost ``OK``, a binary log
    read after a reconnect) produces punches with the same key, whatever their ``received_at``;
    the store uses it to count each record once. The verify mode is deliberately not part of it:
    the same record read through two paths may report it differently (0 on old firmware).
    """
    when = punch.punched_at.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"zkteco:{punch.terminal_id}:{punch.person_id}:{when}:{punch.kind.value}"
