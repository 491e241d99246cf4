"""Group robots: where each one is (from the site file and the settings) and how to post to it.

A site file names a robot's secrets by reference (``webhook_ref``, ``secret_ref``);
:func:`load_robot_targets` joins the stored robots with ``GATEWAY_ROBOT_SECRETS`` into
:class:`RobotTarget` s, refusing with one ``ConfigError`` every reference that is not set.

The senders post one :class:`~gateway.outbox.robot_messages.RobotMessage` and return, or raise
``DeliveryFailed``:

* WeCom (企业微信): ``POST <url>?key=KEY`` with ``{"msgtype": "markdown", "markdown":
  {"content": ...}}`` (content at most 4096 bytes);
* DingTalk (钉钉): ``POST <url>?access_token=TOKEN[&timestamp=MS&sign=SIGN]`` with
  ``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}``; with a signing secret,
  ``sign = urlencode(base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")))``.

Answers: HTTP 2xx with ``errcode`` 0 → delivered. The rate-limit codes (WeCom 45009, DingTalk
130101) are retryable and say "not before a minute"; ``-1`` (busy), HTTP 408/429/5xx and
transport errors are retryable; WeCom's 40058 (this message's content refused: over its limit
or malformed) refuses the message itself, whose events the worker sets aside so that the group's
later alerts go on (``gateway.outbox.refused``); anything else (wrong key, bad token or
signature, keyword or IP rules: every message would fail alike) is non-retryable, retried on
the longest back-off like every refusal, the group waiting: nothing is dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import Clock
from gateway.db.models import SiteRow
from gateway.errors import ConfigError
from gateway.outbox.robot_messages import RobotMessage
from gateway.outbox.senders import DeliveryFailed
from gateway.outbox.tables import RobotRow, robot_destination

__all__ = [
    "DINGTALK_URL",
    "KIND_LABELS",
    "RATE_LIMIT_WAIT_S",
    "WECOM_URL",
    "DingTalkRobotSender",
    "RobotSender",
    "RobotTarget",
    "WeComRobotSender",
    "load_robot_targets",
    "make_sender",
]

log = logging.getLogger(__name__)

WECOM_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
DINGTALK_URL = "https://oapi.dingtalk.com/robot/send"
KIND_LABELS = {"wecom": "企业微信", "dingtalk": "钉钉"}

RATE_LIMIT_WAIT_S = 60.0
"""After a rate-limit answer the group is not tried again for this long (the limit's window)."""

_RATE_LIMITED = {45009, 130101}
_BUSY = {-1}
_CONTENT_REFUSED = {40058}


@dataclass(frozen=True, slots=True)
class RobotTarget:
    """One configured robot with its secrets resolved: ``url`` carries the key or token."""

    robot_id: str
    site_id: str
    name: str
    kind: str
    url: str
    signing_secret: str | None
    timezone: ZoneInfo

    @property
    def destination(self) -> str:
        """Its outbox destination, ``robot:<id>``."""
        return robot_destination(self.robot_id)

    @property
    def label(self) -> str:
        """``企业微信 A班组``: how the platform and the group are named to people."""
        return f"{KIND_LABELS.get(self.kind, self.kind)} {self.name}"


def _webhook(kind: str, base: str | None, key: str) -> str:
    if key.startswith(("http://", "https://")):
        return key  # the secret is the whole webhook URL, as the platform shows it
    param = "key" if kind == "wecom" else "access_token"
    url = base or (WECOM_URL if kind == "wecom" else DINGTALK_URL)
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}{param}={quote(key, safe='')}"


def load_robot_targets(engine: Engine, secrets: Mapping[str, str]) -> list[RobotTarget]:
    """Every stored robot, with its secrets from ``secrets`` (reference → value).

    Raises ``ConfigError`` naming each robot whose ``webhook_ref`` or ``secret_ref`` is not set
    (an empty value counts as not set), so a gateway never starts with a robot it cannot reach.
    """
    with Session(engine) as session:
        zones = dict(session.execute(select(SiteRow.id, SiteRow.timezone)).tuples().all())
        robots = list(session.scalars(select(RobotRow).order_by(RobotRow.site_id, RobotRow.id)))
    problems: list[str] = []
    targets: list[RobotTarget] = []
    for robot in robots:
        where = f"site {robot.site_id!r}, robots (id {robot.id!r})"
        missing = [
            f"{where}.{field}: secret {ref!r} is not set in GATEWAY_ROBOT_SECRETS"
            for field, ref in (("webhook_ref", robot.webhook_ref), ("secret_ref", robot.secret_ref))
            if ref is not None and not secrets.get(ref)
        ]
        if missing:
            problems += missing
            continue
        signing = secrets[robot.secret_ref] if robot.secret_ref is not None else None
        targets.append(
            RobotTarget(
                robot_id=robot.id,
                site_id=robot.site_id,
                name=robot.name,
                kind=robot.kind,
                url=_webhook(robot.kind, robot.url, secrets[robot.webhook_ref]),
                signing_secret=signing,
                timezone=ZoneInfo(zones.get(robot.site_id, "Asia/Shanghai")),
            )
        )
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(
            f"{len(problems)} group robot secret(s) missing (set them, or remove the robots "
            f"from the site file and load it again):\n{listing}"
        )
    return targets


class RobotSender(Protocol):
    """Posts one message to one group; returns on success, raises ``DeliveryFailed``."""

    def post(self, message: RobotMessage) -> None: ...

    def close(self) -> None: ...


class _HttpRobotSender:
    def __init__(self, url: str, timeout_s: float) -> None:
        self._url = url
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def _payload(self, message: RobotMessage) -> dict[str, Any]:
        raise NotImplementedError

    def _target(self) -> str:
        return self._url

    def post(self, message: RobotMessage) -> None:
        try:
            response = self._client.post(self._target(), json=self._payload(message))
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}", retryable=True) from exc
        status = response.status_code
        if status in (408, 429) or status >= 500:
            raise DeliveryFailed(f"HTTP {status} from robot", retryable=True)
        if not 200 <= status < 300:
            log.error("robot refused %r with HTTP %d", message.title, status)
            raise DeliveryFailed(f"HTTP {status} from robot", retryable=False)
        try:
            answer = response.json()
            errcode = int(answer.get("errcode", 0))
            errmsg = str(answer.get("errmsg", ""))
        except (ValueError, AttributeError, TypeError):
            raise DeliveryFailed("robot answered non-JSON", retryable=True) from None
        if errcode == 0:
            return
        reason = f"robot errcode {errcode}: {errmsg}"
        if errcode in _RATE_LIMITED:
            raise DeliveryFailed(reason, retryable=True, retry_after_s=RATE_LIMIT_WAIT_S)
        if errcode in _BUSY:
            raise DeliveryFailed(reason, retryable=True)
        if errcode in _CONTENT_REFUSED:
            raise DeliveryFailed(reason, retryable=False, refused=True)
        log.error("robot refused %r: %s", message.title, reason)
        raise DeliveryFailed(reason, retryable=False)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class WeComRobotSender(_HttpRobotSender):
    """A WeCom group robot: ``url`` is the webhook with its ``?key=...``."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        super().__init__(url, timeout_s)

    def _payload(self, message: RobotMessage) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": message.markdown("\n")}}


class DingTalkRobotSender(_HttpRobotSender):
    """A DingTalk custom robot: ``url`` is the webhook with its ``?access_token=...``.

    With ``secret`` (the robot's "加签" key) each request is signed with the time of ``clock``;
    DingTalk refuses a timestamp more than an hour off, so ``clock`` must run in real time
    against the robot's (the demo's accelerated clock works only with the stub on that clock).
    """

    def __init__(
        self, url: str, *, secret: str | None = None, clock: Clock, timeout_s: float = 5.0
    ) -> None:
        super().__init__(url, timeout_s)
        self._secret = secret
        self._clock = clock

    def _target(self) -> str:
        if self._secret is None:
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

    def _payload(self, message: RobotMessage) -> dict[str, Any]:
        # DingTalk's markdown joins single line breaks; a blank line keeps each line its own.
        text = message.markdown("\n\n")
        return {"msgtype": "markdown", "markdown": {"title": message.title, "text": text}}


def make_sender(target: RobotTarget, clock: Clock, timeout_s: float = 5.0) -> RobotSender:
    """The sender for ``target``'s platform."""
    if target.kind == "wecom":
        return WeComRobotSender(target.url, timeout_s)
    if target.kind == "dingtalk":
        return DingTalkRobotSender(
            target.url, secret=target.signing_secret, clock=clock, timeout_s=timeout_s
        )
    raise ConfigError(f"robot {target.robot_id!r}: unknown kind {target.kind!r}")
