"""A WeCom and DingTalk group-robot stub: a real HTTP server checking the robots' request formats.

Endpoints, as the platforms publish them:

* WeCom (企业微信): ``POST /cgi-bin/webhook/send?key=KEY`` with ``{"msgtype": "markdown",
  "markdown": {"content": ...}}`` (or ``"text"``); content at most 4096 bytes (else errcode
  40058); an unknown key is errcode 93000.
* DingTalk (钉钉): ``POST /robot/send?access_token=TOKEN[&timestamp=MS&sign=SIGN]`` with
  ``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}`` (or ``"text"``). For a
  robot registered with a signing secret, ``sign`` must be ``base64(HMAC-SHA256(secret,
  f"{timestamp}\\n{secret}"))`` (URL-encoded in the query) and ``timestamp`` within an hour of the
  stub's clock, else errcode 310000; an unknown token is errcode 300001.

Accepted messages are answered ``{"errcode": 0, "errmsg": "ok"}`` and recorded. Like the real
robots, the stub refuses more than ``limit_per_min`` messages a robot in any 60 s of its clock
(WeCom errcode 45009, DingTalk 130101). Faults on demand: :meth:`RobotStub.fail_next` answers the
next requests with a rate-limit code or an HTTP status. Over HTTP, for a bench in another
process: ``GET /_stub/messages``, ``POST /_stub/fail?count=N&errcode=45009`` (or
``&status=500``), ``POST /_stub/reset``.

Repeats are recognised by the reference numbers the gateway prints in each message (``编号``
and eight hex digits, the start of the event id): a number a robot already accepted is listed in
:attr:`RobotStub.duplicates` (per robot: one alert may well go to several groups). The signature
check is written here on its own, not imported from the gateway, so a mistake there cannot hide
behind the same mistake here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fwsim.http_serving import ServedStub
from gateway.clock import Clock, SystemClock

__all__ = ["KINDS", "ReceivedMessage", "RobotStub"]

KINDS = {"wecom": "企业微信", "dingtalk": "钉钉"}
_CONTROL = "/_stub/"
_WECOM_PATH = "/cgi-bin/webhook/send"
_DINGTALK_PATH = "/robot/send"
_RATE_LIMIT = {"wecom": (45009, "api freq out of limit"), "dingtalk": (130101, "send too fast")}
_REF = re.compile(r"编号 ([0-9a-f]{8})")
_MARKUP = re.compile(r"^(#{1,6} |> ?)")


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message a robot accepted, as its group shows it."""

    kind: str
    robot: str
    """The group's name given at registration."""
    title: str
    text: str
    received_at: datetime
    refs: tuple[str, ...]

    @property
    def label(self) -> str:
        """``企业微信 A班组``."""
        return f"{KINDS[self.kind]} {self.robot}"

    def plain_lines(self) -> list[str]:
        """The markdown as a group member reads it: headings, quotes and bold marks gone."""
        lines = [_MARKUP.sub("", line).replace("**", "").strip() for line in self.text.split("\n")]
        return [line for line in lines if line]


@dataclass(slots=True)
class _Robot:
    kind: str
    name: str
    secret: str | None = None
    sent: deque[datetime] = field(default_factory=deque)
    refs: set[str] = field(default_factory=set)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], stub: RobotStub) -> None:
        self.stub = stub
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, payload: object) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if urlsplit(self.path).path == _CONTROL + "messages":
            self._reply(200, self.server.stub.snapshot())
        else:
            self._reply(404, {"errcode": 404, "errmsg": "not found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        stub = self.server.stub
        if url.path.startswith(_CONTROL):
            self._reply(*stub._control(url.path[len(_CONTROL) :], query))
        elif url.path == _WECOM_PATH:
            self._reply(*stub._receive("wecom", query.get("key", ""), query, body))
        elif url.path == _DINGTALK_PATH:
            self._reply(*stub._receive("dingtalk", query.get("access_token", ""), query, body))
        else:
            self._reply(404, {"errcode": 404, "errmsg": f"no robot API at {url.path}"})


def _dingtalk_sign(secret: str, timestamp: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


class RobotStub(ServedStub):
    """The stub; register robots with :meth:`add_wecom` / :meth:`add_dingtalk`, then ``start()``.

    ``clock`` (default: wall time) judges DingTalk timestamps and the per-minute limit; give it
    the gateway's clock when that one is accelerated. ``on_message`` is called (on the server's
    thread) with every accepted message. Attributes are safe to read from any thread.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        limit_per_min: int | None = 20,
        on_message: Callable[[ReceivedMessage], None] | None = None,
    ) -> None:
        super().__init__(host, port)
        self._clock = clock or SystemClock()
        self.limit_per_min = limit_per_min
        self.on_message = on_message
        self._robots: dict[tuple[str, str], _Robot] = {}
        self._cond = threading.Condition()
        self._messages: list[ReceivedMessage] = []
        self._duplicates: list[str] = []
        self._refused: list[tuple[str, int, str]] = []
        self._requests = 0
        self._faults: deque[tuple[int, int | None]] = deque()

    # -- set-up and life cycle ----------------------------------------------------------------

    def add_wecom(self, key: str, name: str) -> str:
        """Register a WeCom robot by its webhook key; returns its webhook URL."""
        self._robots[("wecom", key)] = _Robot("wecom", name)
        return f"{self.wecom_url}?key={key}"

    def add_dingtalk(self, token: str, name: str, secret: str | None = None) -> str:
        """Register a DingTalk robot by its access token (and signing secret); returns its URL."""
        self._robots[("dingtalk", token)] = _Robot("dingtalk", name, secret)
        return f"{self.dingtalk_url}?access_token={token}"

    def start(self) -> str:
        """Listen (port 0 picks a free one) and return the base URL."""
        self._serve(lambda address: _Server(address, self), "robot-stub")
        return self.base_url

    @property
    def wecom_url(self) -> str:
        """The WeCom endpoint without the key (a site file's robot ``url``)."""
        return self.base_url + _WECOM_PATH

    @property
    def dingtalk_url(self) -> str:
        """The DingTalk endpoint without the token (a site file's robot ``url``)."""
        return self.base_url + _DINGTALK_PATH

    # -- faults and what was received ---------------------------------------------------------

    def fail_next(self, n: int, *, errcode: int | None = None, status: int = 200) -> None:
        """Answer the next ``n`` robot requests with ``errcode`` (``None``: the platform's
        rate-limit code) under HTTP ``status``; ``status`` 500 alone answers a server error."""
        with self._cond:
            self._faults.extend([(status, errcode)] * n)

    def reset(self) -> None:
        """Forget the messages, refusals and pending faults (the robots stay registered)."""
        with self._cond:
            self._messages.clear()
            self._duplicates.clear()
            self._refused.clear()
            self._faults.clear()
            self._requests = 0
            for robot in self._robots.values():
                robot.sent.clear()
                robot.refs.clear()

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Accepted messages in arrival order."""
        with self._cond:
            return list(self._messages)

    @property
    def duplicates(self) -> list[str]:
        """Reference numbers a robot accepted again after a first time, one entry per repeat."""
        with self._cond:
            return list(self._duplicates)

    @property
    def refused(self) -> list[tuple[str, int, str]]:
        """``(robot name or key, errcode or HTTP status, reason)`` of every refused request."""
        with self._cond:
            return list(self._refused)

    @property
    def requests(self) -> int:
        """Every robot request that reached the stub, whatever the answer."""
        with self._cond:
            return self._requests

    def snapshot(self) -> dict[str, Any]:
        """Everything at once, as served by ``GET /_stub/messages``."""
        with self._cond:
            messages = [
                {**asdict(m), "received_at": m.received_at.isoformat()} for m in self._messages
            ]
            return {
                "messages": messages,
                "duplicates": list(self._duplicates),
                "refused": [list(r) for r in self._refused],
                "requests": self._requests,
            }

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` holds (re-checked after each request) or ``timeout`` wall
        seconds pass; return its last value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))
            return True

    # -- the robot endpoints ------------------------------------------------------------------

    def _control(self, action: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            if action == "fail":
                errcode = query.get("errcode")
                self.fail_next(
                    int(query.get("count", "1")),
                    errcode=None if errcode is None else int(errcode),
                    status=int(query.get("status", "200")),
                )
            elif action == "reset":
                self.reset()
            else:
                return 404, {"error": f"unknown control {action!r}"}
        except ValueError as exc:
            return 400, {"error": str(exc)}
        return 200, {"ok": True}

    def _receive(
        self, kind: str, key: str, query: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        now = self._clock.now()
        with self._cond:
            try:
                self._requests += 1
                robot = self._robots.get((kind, key))
                status, errcode, reason = self._check(kind, robot, query, now)
                if errcode == 0 and robot is not None:
                    message, errcode, reason = self._parse(kind, robot, body, now)
                    if message is not None:
                        self._accept(robot, message, now)
                        return 200, {"errcode": 0, "errmsg": "ok"}
                self._refused.append((robot.name if robot else key, errcode or status, reason))
                return status, {"errcode": errcode, "errmsg": reason}
            finally:
                self._cond.notify_all()

    def _check(
        self, kind: str, robot: _Robot | None, query: dict[str, str], now: datetime
    ) -> tuple[int, int, str]:
        if self._faults:
            status, errcode = self._faults.popleft()
            if status >= 500:
                return status, status, "injected server error"
            code, text = _RATE_LIMIT[kind] if errcode is None else (errcode, "injected")
            return status, code, text
        if robot is None:
            return 200, (93000 if kind == "wecom" else 300001), "invalid webhook key or token"
        if robot.secret is not None:
            timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
            if not timestamp.isdigit():
                return 200, 310000, "sign not match: timestamp missing"
            if abs(int(timestamp) / 1000 - now.timestamp()) > 3600:
                return 200, 310000, "sign not match: timestamp more than an hour off"
            if not hmac.compare_digest(
                sign.encode(), _dingtalk_sign(robot.secret, timestamp).encode()
            ):
                return 200, 310000, "sign not match"
        while robot.sent and robot.sent[0] <= now - timedelta(seconds=60):
            robot.sent.popleft()
        if self.limit_per_min is not None and len(robot.sent) >= self.limit_per_min:
            code, text = _RATE_LIMIT[kind]
            return 200, code, text
        return 200, 0, "ok"

    def _parse(
        self, kind: str, robot: _Robot, body: bytes, now: datetime
    ) -> tuple[ReceivedMessage | None, int, str]:
        try:
            doc = json.loads(body)
            msgtype = doc["msgtype"]
            part = doc[msgtype]
            if msgtype == "markdown" and kind == "wecom":
                title, text = "", part["content"]
            elif msgtype == "markdown":
                title, text = part["title"], part["text"]
            elif msgtype == "text":
                title, text = "", part["content"]
            else:
                return None, 40008, f"unsupported msgtype {msgtype!r}"
        except (ValueError, KeyError, TypeError):
            return None, 40035, "body is not a robot message"
        if not isinstance(text, str) or not text or not isinstance(title, str):
            return None, 40035, "empty or malformed content"
        if kind == "wecom" and len(text.encode("utf-8")) > 4096:
            return None, 40058, "markdown.content exceed max length 4096"
        if kind == "dingtalk" and msgtype == "markdown" and not title:
            return None, 40035, "markdown.title missing"
        title = title or text.split("\n", 1)[0].lstrip("# ")
        refs = tuple(_REF.findall(text))
        return ReceivedMessage(kind, robot.name, title, text, now, refs), 0, "ok"

    def _accept(self, robot: _Robot, message: ReceivedMessage, now: datetime) -> None:
        robot.sent.append(now)
        for ref in message.refs:
            if ref in robot.refs:
                self._duplicates.append(ref)
            robot.refs.add(ref)
        self._messages.append(message)
        if self.on_message is not None:
            self.on_message(message)
