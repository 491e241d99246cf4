"""The simulated PUSH terminal against the published attendance PUSH protocol (push 2.4.x): every
HTTP request it makes to the gateway's ``/iclock`` routes, served by uvicorn on 127.0.0.1, is
recorded as it arrived and compared with the request sequence the protocol publishes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI

from drivers.zkteco.push_router import CommandQueue, make_push_router
from fwsim.zkteco.push_terminal import PushTerminal
from gateway.clock import ManualClock
from gateway.records import Punch
from tests.fixtures.asgi_server import Server

SN = "0316144680030"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class Recorded:
    """One request as the server received it, and the status and type it answered."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    response_type: str | None = None
    response: bytes = b""


class Recorder:
    """ASGI middleware keeping every HTTP request (method, path, query, headers, body) and the
    answer's status and content type, before and after the wrapped app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[Recorded] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parts = []
        while True:
            message = await receive()
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        record = Recorded(
            method=scope["method"],
            path=scope["path"],
            query=parse_qsl(scope["query_string"].decode(), keep_blank_values=True),
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=b"".join(parts),
        )
        self.requests.append(record)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": record.body, "more_body": False}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
                record.response_type = headers.get("content-type")
            elif message["type"] == "http.response.body":
                record.response += message.get("body", b"")
            await send(message)

        await self.app(scope, replay, keep)


def test_push_terminal_makes_the_published_request_sequence() -> None:
    stored: list[Punch] = []
    results: list[tuple[str, int | None]] = []
    queue = CommandQueue()
    app = FastAPI()
    app.include_router(
        make_push_router(
            sink=stored.extend,
            clock=ManualClock(datetime(2026, 2, 7, tzinfo=UTC)),
            commands=queue,
            on_command_result=lambda sn, r: results.append((r.command_id, r.return_code)),
        )
    )
    recorder = Recorder(app)
    with Server(recorder) as server, PushTerminal(server.url, SN) as terminal:
        terminal.handshake()
        terminal.punch("1001", datetime(2026, 2, 7, 7, 35, 52), status=0, verify=1)
        terminal.punch("1002", datetime(2026, 2, 7, 7, 41, 3), status=1, verify=15)
        assert terminal.push() == 2
        first = queue.enqueue(SN, "DATA UPDATE USERINFO PIN=1003\tName=Li Ming")
        second = queue.enqueue(SN, "REBOOT")
        # The first poll of a session sets the terminal's clock (§10.6), 2026-02-07 08:00 packed.
        assert terminal.poll() == [
            "C:time1:SET OPTION DateTime=838886400",
            f"C:{first}:DATA UPDATE USERINFO PIN=1003\tName=Li Ming",
            f"C:{second}:REBOOT",
        ]
        assert terminal.poll() == []

    handshake, upload, status_poll, reply, poll = recorder.requests
    # 1. Initialisation (§3.1): the options, the push version, the language.
    assert (handshake.method, handshake.path, handshake.body) == ("GET", "/iclock/cdata", b"")
    assert handshake.query == [
        ("SN", SN),
        ("options", "all"),
        ("pushver", "2.4.1"),
        ("language", "83"),
    ]
    assert handshake.response_type is not None
    assert handshake.response_type.startswith("text/plain")
    assert handshake.response.decode().splitlines()[0] == f"GET OPTION FROM: {SN}"
    # 2. Attendance upload (§9.1): tab-separated fields in the published order, LF between lines.
    assert (upload.method, upload.path) == ("POST", "/iclock/cdata")
    assert upload.query == [("SN", SN), ("table", "ATTLOG"), ("Stamp", "1")]
    assert upload.body == (
        b"1001\t2026-02-07 07:35:52\t0\t1\t0\t0\t0\t0\t0\t0\t\n"
        b"1002\t2026-02-07 07:41:03\t1\t15\t0\t0\t0\t0\t0\t0\t\n"
    )
    assert upload.response == b"OK:2"
    # 3. Device status on the first poll (§7): ten INFO values.
    assert (status_poll.method, status_poll.path, status_poll.body) == (
        "GET",
        "/iclock/getrequest",
        b"",
    )
    assert status_poll.query == [
        ("SN", SN),
        ("INFO", "Ver 6.60 Sep 23 2015,2,0,2,127.0.0.1,10,0,0,0,100"),
    ]
    # 4. Command replies (§11): ID, Return, CMD per command, joined by LF.
    assert (reply.method, reply.path, reply.query) == ("POST", "/iclock/devicecmd", [("SN", SN)])
    assert (
        reply.body
        == (
            f"ID=time1&Return=0&CMD=SET OPTION\nID={first}&Return=0&CMD=DATA\n"
            f"ID={second}&Return=0&CMD=REBOOT"
        ).encode()
    )
    assert reply.response == b"OK"
    # 5. A plain poll (§10): the serial number only; nothing queued.
    assert (poll.method, poll.path, poll.query, poll.body) == (
        "GET",
        "/iclock/getrequest",
        [("SN", SN)],
        b"",
    )
    assert poll.response == b"OK"
    for request in recorder.requests:
        assert request.status == 200
        assert request.headers["user-agent"] == "iClock Proxy/1.09"
        assert request.headers["accept"] == "*/*"
        assert request.headers["connection"] == "close"
        assert "content-type" not in request.headers  # the protocol's requests carry none
        assert "accept-encoding" not in request.headers
        if request.method == "POST":
            assert request.headers["content-length"] == str(len(request.body))
    assert [(p.person_id, p.punched_at) for p in stored] == [
        ("1001", datetime(2026, 2, 6, 23, 35, 52, tzinfo=UTC)),
        ("1002", datetime(2026, 2, 6, 23, 41, 3, tzinfo=UTC)),
    ]
    assert results == [("time1", 0), (first, 0), (second, 0)]
