"""Punch states and verify modes (kept apart), and the identity of a punch."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from drivers.zkteco.semantics import punch_kind, record_key, verify_mode
from gateway.records import Punch, PunchKind, VerifyMode


def test_punch_values_mean_what_the_corpus_says(samples: dict[str, Any]) -> None:
    documented = samples["zk_attendance_semantics"]["punch_values"]
    words = {k: v.replace("overtime", "overtime").replace("-", "_") for k, v in documented.items()}
    for code, word in words.items():
        kind = punch_kind(int(code))
        assert kind is not None
        assert kind.value == word
    assert punch_kind(6) is None
    assert punch_kind(255) is None


def test_verify_modes_of_the_corpus_note() -> None:
    # "1 finger, 3 password, 4 card, 15 face; 0 on old firmware"
    assert verify_mode(1) is VerifyMode.FINGERPRINT
    assert verify_mode(3) is VerifyMode.PASSWORD
    assert verify_mode(4) is VerifyMode.CARD
    assert verify_mode(15) is VerifyMode.FACE
    assert verify_mode(0) is VerifyMode.UNKNOWN
    assert verify_mode(None) is VerifyMode.UNKNOWN
    assert verify_mode(9) is VerifyMode.OTHER


def test_record_key_ignores_when_it_was_received_and_how_it_was_verified() -> None:
    at = datetime(2026, 2, 6, 23, 35, 52, tzinfo=UTC)
    punch = Punch("0316144680030", "1", at, at, PunchKind.CHECK_IN, VerifyMode.FINGERPRINT)
    again = replace(punch, received_at=at + timedelta(minutes=5), verify=VerifyMode.UNKNOWN)
    assert record_key(punch) == record_key(again)
    assert record_key(punch) == "zkteco:0316144680030:1:2026-02-06T23:35:52Z:check_in"
    assert record_key(replace(punch, kind=PunchKind.CHECK_OUT)) != record_key(punch)
    assert record_key(replace(punch, person_id="2")) != record_key(punch)
    assert record_key(replace(punch, terminal_id="other")) != record_key(punch)
