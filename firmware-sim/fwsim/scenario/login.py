"""One JT/T 808 terminal's log-in, driven by the platform's replies, on the injected clock.

The exchange (JT/T 808-2013 sections 8.8 to 8.10): the terminal sends its 0x0100 registration,
the platform answers 0x8100 with an authentication code, the terminal sends 0x0102 with that
code and the platform answers 0x8001 (result 0: accepted). Only then does the terminal report.

A :class:`LoginSession` starts once the plan's 0x0100 has gone up and is sans-I/O: it is given
each frame from the terminal's downlink topic and the clock's time, and returns the payloads
the terminal sends next. The rules it keeps:

* a 0x8100 with a code, while registering, is answered with 0x0102 carrying that code; a 0x8100
  refusing the registration (result not 0) ends the log-in as failed;
* a 0x8001 to that 0x0102: result 0 ends the log-in as done; any other result makes the terminal
  register again, once (``max_refusals``); the next refusal ends it as failed;
* a frame not answered within ``timeout_s`` (clock seconds) is sent again unchanged (same
  serial number), up to ``retries`` times; then the log-in has failed;
* replies to another terminal or to other messages (0x8001 to a location report), a repeated
  0x8100 once the code was sent, and unreadable payloads are ignored. Replies may come as
  binary frames or as hex text.

The frames it sends use the serial numbers the plan kept for them (``LoginPlan.serials``), and
go up as hex text when the terminal's others do.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Final

from fwsim.gps import jt808
from fwsim.gps.encoders import LoginPlan
from fwsim.gps.jt808_login import Jt808Login, parse_platform_reply

__all__ = ["AUTHENTICATING", "DONE", "FAILED", "REGISTERING", "LoginSession"]

log = logging.getLogger(__name__)

REGISTERING: Final = "registering"
AUTHENTICATING: Final = "authenticating"
DONE: Final = "done"
FAILED: Final = "failed"

_HEX = frozenset((string.hexdigits + string.whitespace).encode("ascii"))


def _frame_bytes(payload: bytes) -> bytes:
    """A downlink's frame: hex text decoded, binary as is."""
    if payload and all(byte in _HEX for byte in payload):
        return bytes.fromhex(payload.decode("ascii"))
    return payload


class LoginSession:
    """The rest of one log-in, after its 0x0100 (``registration``) was published at ``now``.

    ``state`` is ``registering`` (waiting for the 0x8100), ``authenticating`` (waiting for the
    0x8001 to the 0x0102), ``done`` or ``failed``; ``reason`` says why it failed. ``deadline``
    is when the frame last sent is due to be sent again (``None`` once finished).
    """

    def __init__(
        self,
        device_id: str,
        topic: str,
        plan: LoginPlan,
        registration: bytes,
        now: datetime,
        *,
        timeout_s: float = 10.0,
        retries: int = 2,
        max_refusals: int = 1,
    ) -> None:
        self.device_id = device_id
        self.topic = topic
        self.plan = plan
        self.timeout = timedelta(seconds=timeout_s)
        self.retries = retries
        self.max_refusals = max_refusals
        self.state: str = REGISTERING
        self.reason = ""
        self.auth_code: str | None = None
        self._serials: Iterator[int] = iter(plan.serials)
        self._login = Jt808Login(plan.phone_bcd, self._next_serial, plan.registration)
        self._refusals = 0
        self._serial = -1  # the serial number handed out last
        self._auth_serial = -1  # that of the 0x0102 sent last
        self._last = registration
        self._sent_times = 1
        self.deadline: datetime | None = now + self.timeout

    @property
    def finished(self) -> bool:
        """Done or failed: nothing more is sent or awaited."""
        return self.state in (DONE, FAILED)

    def _next_serial(self) -> int:
        serial = next(self._serials, None)
        if serial is None:  # max_refusals keeps within LOGIN_SERIALS; a clear error otherwise
            raise RuntimeError(f"{self.device_id}: the log-in ran out of its serial numbers")
        self._serial = serial
        return serial

    def _send(self, frame: bytes, state: str, now: datetime) -> list[bytes]:
        payload = frame.hex().encode("ascii") if self.plan.hex_text else frame
        self.state = state
        self._last = payload
        self._sent_times = 1
        self.deadline = now + self.timeout
        return [payload]

    def _fail(self, reason: str) -> list[bytes]:
        self.state, self.reason, self.deadline = FAILED, reason, None
        log.warning("%s: log-in failed: %s", self.device_id, reason)
        return []

    def on_downlink(self, payload: bytes, now: datetime) -> list[bytes]:
        """Take one frame from the terminal's downlink topic; the payloads to publish next."""
        if self.finished:
            return []
        try:
            reply = parse_platform_reply(_frame_bytes(payload))
        except ValueError as exc:
            log.debug("%s: downlink ignored: %s", self.device_id, exc)
            return []
        if reply.phone != self.plan.phone_bcd:
            return []
        if reply.msg_id == jt808.MSG_REGISTRATION_REPLY:
            if self.state != REGISTERING:
                return []  # a repeat: the code was sent already
            if reply.auth_code is None:
                return self._fail(f"registration refused (0x8100 result {reply.result})")
        elif self.state != AUTHENTICATING:
            return []
        elif (
            reply.reply_msg_id == jt808.MSG_AUTHENTICATION
            and reply.reply_serial == self._auth_serial
            and reply.result != 0
        ):
            self._refusals += 1
            if self._refusals > self.max_refusals:
                return self._fail(f"authentication code {self.auth_code!r} refused")
        answer = self._login.on_downlink(_frame_bytes(payload))
        if self._login.authenticated:
            self.state, self.deadline = DONE, None
            log.info("%s: logged in", self.device_id)
            return []
        if answer is None:
            return []  # not the reply to our 0x0102
        if self.state == REGISTERING:
            self.auth_code = self._login.auth_code
            self._auth_serial = self._serial
            return self._send(answer, AUTHENTICATING, now)
        return self._send(answer, REGISTERING, now)  # refused once: register again

    def on_clock(self, now: datetime) -> list[bytes]:
        """Send the last frame again if its reply is overdue; give up after the retries."""
        if self.deadline is None or now < self.deadline:
            return []
        if self._sent_times > self.retries:
            waiting_for = "0x8100" if self.state == REGISTERING else "0x8001"
            return self._fail(f"no {waiting_for} after {self._sent_times} tries")
        self._sent_times += 1
        self.deadline = now + self.timeout
        return [self._last]
