"""A terminal's log-in driven by the platform's replies, on the injected clock: what it sends
after each reply, what it ignores, when it sends again and when it gives up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fwsim.gps import jt808
from fwsim.gps.encoders import EncoderOptions, LoginPlan, make_encoder
from fwsim.scenario.login import AUTHENTICATING, DONE, FAILED, REGISTERING, LoginSession

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
DEVICE = "13800000014"
PHONE = jt808.bcd_phone(DEVICE)


def _session(*, hex_text: bool = False) -> tuple[LoginSession, bytes]:
    fmt = "jt808-hex" if hex_text else "jt808"
    (message,) = make_encoder(fmt, DEVICE, EncoderOptions(register=True)).login()
    assert message.login is not None
    session = LoginSession(
        DEVICE, message.topic, message.login, message.payload, T0, timeout_s=10, retries=2
    )
    return session, message.payload


def _registered(code: str = "a1b2c3", result: int = 0, phone: bytes = PHONE) -> bytes:
    body = (0).to_bytes(2, "big") + bytes([result]) + (code.encode() if result == 0 else b"")
    return jt808.build_frame(jt808.MSG_REGISTRATION_REPLY, phone, 7, body)


def _general(reply_serial: int, reply_id: int, result: int) -> bytes:
    body = reply_serial.to_bytes(2, "big") + reply_id.to_bytes(2, "big") + bytes([result])
    return jt808.build_frame(jt808.MSG_PLATFORM_REPLY, PHONE, 8, body)


def _serial(frame: bytes) -> int:
    return int.from_bytes(frame[11:13], "big")


def test_code_from_0x8100_is_sent_in_0x0102_and_an_accepting_0x8001_ends_the_login() -> None:
    session, _ = _session()
    plan: LoginPlan = session.plan
    (auth,) = session.on_downlink(_registered("a1b2c3"), T0)
    assert auth[1:3].hex() == "0102" and auth[13:-2] == b"a1b2c3"
    assert _serial(auth) == plan.serials[0]
    assert session.state == AUTHENTICATING and session.auth_code == "a1b2c3"
    assert session.on_downlink(_general(plan.serials[0], jt808.MSG_AUTHENTICATION, 0), T0) == []
    assert session.state == DONE and session.finished and session.deadline is None


def test_repeats_other_replies_other_terminals_and_garbage_are_ignored() -> None:
    session, _ = _session()
    assert session.on_downlink(_registered(phone=jt808.bcd_phone("13900000001")), T0) == []
    assert session.on_downlink(b"\x7e\x01\x02\x7e", T0) == []
    assert session.state == REGISTERING
    (auth,) = session.on_downlink(_registered(), T0)
    assert session.on_downlink(_registered(), T0) == []  # a repeated 0x8100: code already sent
    assert session.on_downlink(_general(3, jt808.MSG_LOCATION, 0), T0) == []
    assert session.state == AUTHENTICATING
    session.on_downlink(_general(_serial(auth), jt808.MSG_AUTHENTICATION, 0), T0)
    assert session.state == DONE


def test_a_refused_code_makes_the_terminal_register_again_once_then_it_gives_up() -> None:
    session, _ = _session()
    serials = session.plan.serials
    (auth,) = session.on_downlink(_registered("c0de01"), T0)
    (again,) = session.on_downlink(_general(_serial(auth), jt808.MSG_AUTHENTICATION, 1), T0)
    assert again[1:3].hex() == "0100" and _serial(again) == serials[1]
    assert session.state == REGISTERING
    (auth2,) = session.on_downlink(_registered("c0de02"), T0)
    assert _serial(auth2) == serials[2] and auth2[13:-2] == b"c0de02"
    assert session.on_downlink(_general(serials[2], jt808.MSG_AUTHENTICATION, 1), T0) == []
    assert session.state == FAILED and "c0de02" in session.reason


def test_a_refused_registration_ends_the_login() -> None:
    session, _ = _session()
    assert session.on_downlink(_registered(result=4), T0) == []
    assert session.state == FAILED and "result 4" in session.reason


def test_an_unanswered_frame_is_sent_again_on_the_clock_then_the_login_fails() -> None:
    session, registration = _session()
    assert session.on_clock(T0 + timedelta(seconds=9)) == []
    assert session.on_clock(T0 + timedelta(seconds=10)) == [registration]  # same frame, serial
    assert session.deadline == T0 + timedelta(seconds=20)
    assert session.on_clock(T0 + timedelta(seconds=20)) == [registration]
    assert session.on_clock(T0 + timedelta(seconds=30)) == []
    assert session.state == FAILED and "no 0x8100 after 3 tries" in session.reason


def test_the_0x0102_is_sent_again_too_and_a_late_reply_still_counts() -> None:
    session, _ = _session()
    (auth,) = session.on_downlink(_registered(), T0 + timedelta(seconds=5))
    assert session.on_clock(T0 + timedelta(seconds=15)) == [auth]
    session.on_downlink(_general(_serial(auth), jt808.MSG_AUTHENTICATION, 0), T0)
    assert session.state == DONE


def test_hex_terminal_answers_in_hex_and_reads_replies_sent_as_hex() -> None:
    session, registration = _session(hex_text=True)
    assert registration.startswith(b"7e0100")
    (auth,) = session.on_downlink(_registered("abcdef").hex().encode(), T0)
    assert auth.startswith(b"7e0102") and bytes.fromhex(auth.decode())[13:-2] == b"abcdef"
