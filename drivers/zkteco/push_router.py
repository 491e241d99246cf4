"""The gateway's side of the ZKTeco PUSH protocol: a FastAPI router for ``/iclock/...``.

Contract with the terminal: an ATTLOG upload is answered ``OK:<n>`` only after ``sink`` has
returned, i.e. after the punches are stored. If the sink raises, the answer is HTTP 503 and the
terminal keeps the records and sends them again after its ``ErrorDelay``: an accepted record
is never lost. A retry may resend records that were stored (the ``OK`` was lost on the way):
the sink sees them again, with the same :func:`drivers.zkteco.semantics.record_key`, and must
count each key once.

Terminals: a serial number found in ``terminals`` is answered with its config; any other is
passed to ``on_unknown_terminal``, which returns the config to use or ``None``: the terminal is
refused. With ``terminals`` but no ``on_unknown_terminal``, a serial number not in it is
refused; with neither (tests, benchmarks) every terminal is accepted with ``default_config``.
A refused terminal gets HTTP 403 with ``ERROR: unknown terminal`` on every ``/iclock`` request,
so it keeps its records (never acknowledged, never stored) and uploads them once it is added to
the site file; each refused request is reported to ``on_reject`` as a ``Rejected`` (reason
``unknown terminal: ...``, device id the serial number, raw the request body), which counts and
logs it rate-limited.

A known terminal whose config names ``addresses`` (its site file ``address``) is answered only
from them: a request for its serial number from any other TCP peer (``request.client``, never a
forwarded header) is refused exactly as an unknown terminal's is (HTTP 403, the same answer,
nothing stored or acknowledged, so the real terminal keeps its records) and reported with reason
``unexpected address: ...`` naming the peer (``drivers.zkteco.push_address``).

Lines the codec refuses are passed to ``on_reject`` too; they count in ``<n>`` so the terminal
does not resend them forever. Without ``on_reject`` the router logs both itself, once per
terminal and problem.

``commands`` (optional) queues commands for terminals; ``getrequest`` hands them out and
``devicecmd`` results are logged and passed to ``on_command_result``.

Terminal clocks (``push_clock``): the first ``getrequest`` of each session is handed
``SET OPTION DateTime`` with the gateway's time, and punches of an upload that only a clock
left behind explains are dated by the gateway's clock before ``sink`` sees them; every request
keeps the terminal's session live.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from drivers.zkteco.push_address import speaks_from
from drivers.zkteco.push_clock import PushClocks
from drivers.zkteco.push_codec import (
    CommandResult,
    TerminalConfig,
    count_records,
    handshake_reply,
    parse_attlog,
    parse_devicecmd,
    parse_handshake,
    parse_info,
    query_value,
)
from gateway.clock import Clock
from gateway.records import Punch, Rejected

__all__ = ["CommandQueue", "QueuedCommand", "make_push_router"]

log = logging.getLogger(__name__)

_TEXT = "text/plain"
_MAX_WARNED = 1000
"""Serial numbers remembered for the router's own once-only warnings (they come from requests,
so the set must not grow without end)."""
UNKNOWN_TERMINAL = "unknown terminal: serial number not in the site file"
UNEXPECTED_ADDRESS = "unexpected address"
"""The reason (and so the counter, ``rejected.unexpected_address``) of a request for a known
serial number from a peer outside the terminal's ``address``."""


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    """A command waiting for a terminal: ``C:<command_id>:<text>`` on the wire."""

    command_id: str
    text: str


class CommandQueue:
    """A small thread-safe per-terminal FIFO of commands (``DATA QUERY ...``, ``REBOOT``...).

    Commands are handed out once, on the terminal's next ``getrequest``; results come back on
    ``devicecmd`` with the same id. Nothing is persisted: a gateway restart forgets the queue.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[QueuedCommand]] = {}
        self._next = 1

    def enqueue(self, sn: str, text: str) -> str:
        """Queue ``text`` for terminal ``sn``; returns the command id."""
        with self._lock:
            command_id = str(self._next)
            self._next += 1
            self._queues.setdefault(sn, deque()).append(QueuedCommand(command_id, text))
            return command_id

    def take(self, sn: str, limit: int = 16) -> list[QueuedCommand]:
        """Remove and return up to ``limit`` queued commands for ``sn``, oldest first."""
        with self._lock:
            queue = self._queues.get(sn)
            if not queue:
                return []
            return [queue.popleft() for _ in range(min(limit, len(queue)))]

    def pending(self, sn: str) -> int:
        with self._lock:
            return len(self._queues.get(sn, ()))


def _plain(text: str, status_code: int = 200) -> PlainTextResponse:
    return PlainTextResponse(text, status_code=status_code, media_type=_TEXT)


_Handler = Callable[[Request, str, TerminalConfig], Awaitable[PlainTextResponse]]
"""A route's work for a known terminal: the request, its serial number and its config."""


def make_push_router(
    *,
    sink: Callable[[list[Punch]], None],
    clock: Clock,
    terminals: Mapping[str, TerminalConfig] | None = None,
    on_unknown_terminal: Callable[[str], TerminalConfig | None] | None = None,
    default_config: TerminalConfig | None = None,
    on_reject: Callable[[Rejected], None] | None = None,
    commands: CommandQueue | None = None,
    on_command_result: Callable[[str, CommandResult], None] | None = None,
) -> APIRouter:
    """Build the ``/iclock`` router (see the module docstring for the contract).

    ``sink`` is called (in a worker thread) with each upload's punches, in line order, before
    the terminal is answered; it must store them durably or raise. It is called with an empty
    list never. Which terminals are answered: the module docstring.
    """
    fallback = default_config or TerminalConfig()
    clocks = PushClocks(clock)
    router = APIRouter()
    warned: set[str] = set()
    warned_lock = threading.Lock()

    def config_for(sn: str) -> TerminalConfig | None:
        if terminals is not None and sn in terminals:
            return terminals[sn]
        if on_unknown_terminal is not None:
            return on_unknown_terminal(sn)
        return None if terminals is not None else fallback

    def first_time(key: str) -> bool:
        with warned_lock:
            if key in warned or len(warned) >= _MAX_WARNED:
                return False
            warned.add(key)
            return True

    def report(rejected: Rejected) -> None:
        if on_reject is not None:
            on_reject(rejected)
        elif first_time(f"{rejected.device_id}\0{rejected.reason[:40]}"):
            log.warning(
                "ZKTeco %s: %s: %s (logged once)",
                (rejected.device_id or "?")[:64],
                rejected.reason[:200],
                rejected.raw[:64].hex(),
            )

    def guarded(handler: _Handler) -> Callable[[Request], Awaitable[PlainTextResponse]]:
        """The route serving ``handler`` to known terminals only (module docstring)."""

        async def route(request: Request) -> PlainTextResponse:
            try:
                sn = parse_handshake(request.query_params).sn
            except ValueError as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from exc
            config = config_for(sn)
            if config is None:
                report(Rejected(UNKNOWN_TERMINAL, await request.body(), sn))
                return _plain("ERROR: unknown terminal", status_code=403)
            peer = request.client.host if request.client is not None else None
            if not speaks_from(peer, config.addresses):
                allowed = ", ".join(str(network) for network in config.addresses)
                reason = f"{UNEXPECTED_ADDRESS}: from {peer or '?'}, not from {allowed}"
                report(Rejected(reason, await request.body(), sn))
                # The unknown terminal's answer: a caller learns nothing about the serial number.
                return _plain("ERROR: unknown terminal", status_code=403)
            clocks.seen(sn)
            return await handler(request, sn, config)

        return route

    async def handshake(request: Request, sn: str, config: TerminalConfig) -> PlainTextResponse:
        info = parse_handshake(request.query_params)
        log.info("ZKTeco terminal %s handshake (pushver %s)", sn, info.pushver or "?")
        clocks.handshake(sn)
        return _plain(handshake_reply(sn, config, now=clock.now()))

    async def upload(request: Request, sn: str, config: TerminalConfig) -> PlainTextResponse:
        table = (query_value(request.query_params, "table") or "").upper()
        body = await request.body()
        if table != "ATTLOG":
            count = count_records(body)
            log.debug("ZKTeco terminal %s sent %d %s line(s); ignored", sn, count, table)
            return _plain(f"OK:{count}" if count else "OK")
        batch = parse_attlog(body, terminal_id=sn, received_at=clock.now(), zone=config.timezone)
        for rejected in batch.rejects:
            report(rejected)
        if batch.punches:
            punches = clocks.correct(sn, config, batch.punches)
            try:
                await run_in_threadpool(sink, punches)
            except Exception:
                log.exception(
                    "ZKTeco %s: storing %d punch(es) failed; the terminal will resend",
                    sn,
                    len(batch.punches),
                )
                clocks.refused(sn)
                return _plain("ERROR: not stored, retry later", status_code=503)
        return _plain(f"OK:{batch.processed}")

    async def getrequest(request: Request, sn: str, config: TerminalConfig) -> PlainTextResponse:
        info = query_value(request.query_params, "INFO")
        if info:
            log.debug("ZKTeco terminal %s status: %s", sn, parse_info(info))
        set_time = clocks.command(sn, config)
        lines = [] if set_time is None else [set_time]
        queued = commands.take(sn) if commands is not None else []
        lines += [f"C:{c.command_id}:{c.text}" for c in queued]
        if not lines:
            return _plain("OK")
        return _plain("".join(f"{line}\n" for line in lines))

    async def devicecmd(request: Request, sn: str, _config: TerminalConfig) -> PlainTextResponse:
        for result in parse_devicecmd(await request.body()):
            log.info(
                "ZKTeco %s: command %s (%s) returned %s",
                sn,
                result.command_id,
                result.command,
                result.return_code,
            )
            clocks.result(sn, result)
            if on_command_result is not None:
                on_command_result(sn, result)
        return _plain("OK")

    async def ping(_request: Request, _sn: str, _config: TerminalConfig) -> PlainTextResponse:
        return _plain("OK")

    # Older firmware appends ".aspx" to every path; both spellings are served.
    for suffix in ("", ".aspx"):
        router.add_api_route(f"/iclock/cdata{suffix}", guarded(handshake), methods=["GET"])
        router.add_api_route(f"/iclock/cdata{suffix}", guarded(upload), methods=["POST"])
        router.add_api_route(f"/iclock/getrequest{suffix}", guarded(getrequest), methods=["GET"])
        router.add_api_route(f"/iclock/devicecmd{suffix}", guarded(devicecmd), methods=["POST"])
        router.add_api_route(f"/iclock/ping{suffix}", guarded(ping), methods=["GET"])
    return router
