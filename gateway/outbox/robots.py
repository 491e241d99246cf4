"""Group-robot senders: alerts as readable markdown in a WeCom (企业微信) or DingTalk (钉钉) group.

Leaders often live in a work group rather than in the management core. These senders take the
same outbox rows (the CloudEvents body) for destinations ``"wecom"`` / ``"dingtalk"`` and post
``alert.*`` events as markdown to the group robot's webhook; other event types are skipped (the
row counts as delivered), so enqueueing everything to a robot destination is harmless.

Answers: HTTP 2xx with ``errcode`` 0 → delivered; the robots' rate-limit codes (WeCom 45009,
DingTalk 130101, both allow about 20 messages a minute) and ``-1`` (busy), HTTP 408/429/5xx and
transport errors → retryable; anything else (wrong key, bad token, keyword or IP rules) →
non-retryable, retried on the longest back-off like every refusal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import quote_plus

import httpx

from gateway.clock import Clock
from gateway.outbox.senders import DeliveryFailed, OutboundEvent

__all__ = ["ALERT_TITLES", "DingTalkRobotSender", "WeComRobotSender", "alert_markdown"]

log = logging.getLogger(__name__)

CHINA_STANDARD_TIME = timezone(timedelta(hours=8))

#: How each alert is named in a leader's group (the terms of the implementation rules).
ALERT_TITLES: dict[str, str] = {
    "alert.unreported_departure": "未报备离岗 (unreported departure)",
    "alert.overtime_departure": "离岗超时 (overtime departure)",
    "alert.leave_overrun": "请假超时未归 (leave overrun)",
    "alert.leave_not_cancelled": "未按时销假 (leave not cancelled)",
    "alert.absent_at_shift_start": "上岗未到 (absent at shift start)",
    "alert.device_silent": "终端失联 (device silent)",
    "alert.sos": "SOS 紧急求助 (SOS)",
    "alert.checkpoint_missed": "漏巡 (checkpoint missed)",
    "alert.late_clock_in": "迟到打卡 (late clock-in)",
}

_RETRYABLE_ERRCODES = {-1, 45009, 130101}
_MAX_MARKDOWN_BYTES = 4000  # WeCom limits markdown content to 4096 bytes


def _scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def alert_markdown(event: dict[str, Any], tz: tzinfo = CHINA_STANDARD_TIME) -> tuple[str, str]:
    """``(title, markdown)`` for a CloudEvents alert: name, guard, local time, then the scalar
    fields of ``data`` as a list (nested evidence is left to the core)."""
    type_ = str(event.get("type", ""))
    title = ALERT_TITLES.get(type_, type_)
    when = str(event.get("time", ""))
    try:
        local = datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone(tz)
        when = local.isoformat(sep=" ", timespec="seconds")
    except ValueError:
        pass
    lines = [
        f"### {title}",
        f"- 保安员 guard: **{event.get('subject', '?')}**",
        f"- 时间 time: {when}",
    ]
    data = event.get("data")
    if isinstance(data, dict):
        for key in sorted(data):
            if _scalar(data[key]):
                lines.append(f"- {key}: {data[key]}")
    text = "\n".join(lines)
    while len(text.encode("utf-8")) > _MAX_MARKDOWN_BYTES:
        text = text[: len(text) * 9 // 10]
    return title, text


class _RobotSender:
    def __init__(self, url: str, timeout_s: float, tz: tzinfo) -> None:
        self._url = url
        self._tz = tz
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def _payload(self, title: str, text: str) -> dict[str, Any]:
        raise NotImplementedError

    def _target(self) -> str:
        return self._url

    def send(self, event: OutboundEvent) -> None:
        if not event.type.startswith("alert."):
            return
        title, text = alert_markdown(json.loads(event.body), self._tz)
        try:
            response = self._client.post(self._target(), json=self._payload(title, text))
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}", retryable=True) from exc
        status = response.status_code
        if status in (408, 429) or status >= 500:
            raise DeliveryFailed(f"HTTP {status} from robot", retryable=True)
        if not 200 <= status < 300:
            log.error("robot refused event %s with HTTP %d", event.event_id, status)
            raise DeliveryFailed(f"HTTP {status} from robot", retryable=False)
        try:
            errcode = int(response.json().get("errcode", 0))
            errmsg = str(response.json().get("errmsg", ""))
        except (ValueError, AttributeError, TypeError):
            raise DeliveryFailed("robot answered non-JSON", retryable=True) from None
        if errcode == 0:
            return
        reason = f"robot errcode {errcode}: {errmsg}"
        if errcode in _RETRYABLE_ERRCODES:
            raise DeliveryFailed(reason, retryable=True)
        log.error("robot refused event %s: %s", event.event_id, reason)
        raise DeliveryFailed(reason, retryable=False)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class WeComRobotSender(_RobotSender):
    """Posts alerts to a WeCom group robot: ``url`` is the webhook with its ``?key=...``."""

    def __init__(self, url: str, timeout_s: float = 5.0, tz: tzinfo = CHINA_STANDARD_TIME) -> None:
        super().__init__(url, timeout_s, tz)

    def _payload(self, title: str, text: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": text}}


class DingTalkRobotSender(_RobotSender):
    """Posts alerts to a DingTalk custom robot: ``url`` is the webhook with ``?access_token=...``.

    With ``secret`` (the robot's "加签" key) each request carries ``timestamp`` (ms) and
    ``sign = base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))``; DingTalk refuses a timestamp
    more than an hour off, so ``clock`` must then be a real-time clock.
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        clock: Clock | None = None,
        timeout_s: float = 5.0,
        tz: tzinfo = CHINA_STANDARD_TIME,
    ) -> None:
        if secret is not None and clock is None:
            raise ValueError("a signed DingTalk robot needs a clock")
        super().__init__(url, timeout_s, tz)
        self._secret = secret
        self._clock = clock

    def _target(self) -> str:
        if self._secret is None or self._clock is None:
            return self._url
        timestamp = str(int(self._clock.now().timestamp() * 1000))
        digest = hmac.new(
            self._secret.encode("utf-8"),
            f"{timestamp}\n{self._secret}".encode(),
            hashlib.sha256,
        ).digest()
        sign = quote_plus(base64.b64encode(digest).decode("ascii"))
        sep = "&" if "?" in self._url else "?"
        return f"{self._url}{sep}timestamp={timestamp}&sign={sign}"

    def _payload(self, title: str, text: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
