"""firmware-sim's reading of platform frames, against the corpus's 0x8001/0x8100 vectors
(go-jt808 and SmallChi/JT808), and its log-in driven by them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fwsim.gps import jt808
from fwsim.gps.jt808_login import Jt808Login, parse_platform_reply


def _frames(corpus: Path) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = json.loads((corpus / "jt808_frames.json").read_text())["frames"]
    return frames


def test_general_and_registration_replies_read_as_upstream_decodes_them(corpus: Path) -> None:
    platform = [f for f in _frames(corpus) if f["expected"].get("msg_id") in ("0x8001", "0x8100")]
    assert len(platform) == 5
    for frame in platform:
        reply = parse_platform_reply(bytes.fromhex(frame["frame_hex"]))
        expected = frame["expected"]
        body = expected["body"]
        assert reply.msg_id == int(expected["msg_id"], 16)
        assert (reply.reply_serial, reply.result) == (body["reply_serial"], body["result"])
        if "reply_msg_id" in body:
            assert reply.reply_msg_id == int(body["reply_msg_id"], 16)
        if "auth_code" in body:
            assert reply.auth_code == body["auth_code"]
        if "serial" in expected:
            assert reply.serial == expected["serial"]
        if "phone" in expected:
            assert reply.phone.hex().lstrip("0") == expected["phone"]


def test_terminal_frames_and_broken_frames_are_refused(corpus: Path) -> None:
    heartbeat = bytes.fromhex(_frames(corpus)[2]["frame_hex"])
    with pytest.raises(ValueError, match="not a platform reply"):
        parse_platform_reply(heartbeat)
    reply = bytearray(bytes.fromhex(_frames(corpus)[0]["frame_hex"]))
    reply[-2] ^= 0x01  # hand-made error: the check code changed
    with pytest.raises(ValueError, match="check code"):
        parse_platform_reply(bytes(reply))


def test_login_authenticates_with_the_code_the_registration_reply_carried(corpus: Path) -> None:
    accept = bytes.fromhex(_frames(corpus)[23]["frame_hex"])  # 0x8100 to 012345678900: "123456"
    serials = iter(range(100))
    login = Jt808Login(bytes.fromhex("012345678900"), lambda: next(serials))
    register = login.start()
    assert register[1:3].hex() == "0100"
    auth = login.on_downlink(accept)
    assert auth is not None
    assert auth[1:3].hex() == "0102"
    assert auth[13:-2] == b"123456"
    assert login.auth_code == "123456"
    assert not login.authenticated
    # A general reply to some other message (SmallChi's, to a 0x0200) settles nothing.
    assert login.on_downlink(bytes.fromhex(_frames(corpus)[22]["frame_hex"])) is None
    assert not login.authenticated


def test_login_ignores_replies_to_another_terminal(corpus: Path) -> None:
    accept = bytes.fromhex(_frames(corpus)[23]["frame_hex"])
    login = Jt808Login(jt808.bcd_phone("13800000001"), lambda: 0)
    login.start()
    assert login.on_downlink(accept) is None
    assert login.auth_code is None
