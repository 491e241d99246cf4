"""A simulated ZKTeco terminal speaking the HTTP PUSH (ADMS) protocol to a server.

It sends what the published attendance PUSH protocol (push version 2.4.x) has a terminal send:

* ``handshake()``: ``GET /iclock/cdata?SN=..&options=all&pushver=..&language=83``;
* ``push()``: ``POST /iclock/cdata?SN=..&table=ATTLOG&Stamp=..`` with pending records, one
  tab-separated line each (PIN, terminal local time, status, verify, work code, reserved),
  lines joined by LF, UTF-8; a batch stays pending until the server answers ``200 OK:<n>``
  (anything else, or no answer, and it is sent again on the next ``push()``);
* ``poll()``: ``GET /iclock/getrequest?SN=..``, the first after a handshake with
  ``INFO=<firmware>,<users>,<fingerprints>,<records>,<ip>,<fingerprint algorithm>,<face
  algorithm>,<faces to enrol>,<faces>,<function flags>`` (the device-status upload); each
  ``C:<id>:<cmd>`` line of the answer is executed and reported in one
  ``POST /iclock/devicecmd?SN=..`` whose body is ``ID=<id>&Return=<r>&CMD=<first words>`` lines
  joined by LF. ``SET OPTION DateTime=<packed time>`` sets the terminal's clock (the reply's
  ``CMD`` is ``SET OPTION``), or, with ``accepts_clock_set`` off (firmware without it), is
  answered ``Return=-1002`` (not supported) and changes nothing; any other command does nothing
  and returns 0.

The terminal's clock: with a ``clock`` (a callable giving the real time, aware), ``punch_now()``
records a punch at the clock's time in ``zone`` plus ``clock_offset`` (negative: the clock runs
behind, ``timedelta(hours=-8)`` for a terminal set to UTC in Beijing), as firmware stamps its
records by its own clock.

Every request carries ``User-Agent: iClock Proxy/1.09``, ``Accept: */*`` and
``Connection: close`` as the firmware's do, and no ``Content-Type`` (the protocol's requests
have none; bodies are UTF-8 text).

Line shape is configurable to exercise a server's tolerance: ``fields`` (2 to 12: PIN, time,
status, verify, workcode, then reserved zeros), ``separator`` (tab, or spaces as some firmware
pads), ``line_ending`` (LF, CRLF, CR), a UTF-8 ``bom``, ``trailing_blank_lines`` and a
``trailing_separator``. ``repush()`` sends records the server already acknowledged, as a terminal
does after losing an ``OK``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from types import TracebackType
from typing import Self
from zoneinfo import ZoneInfo

import httpx

__all__ = ["USER_AGENT", "AttRecord", "PushResult", "PushTerminal"]

BEIJING = ZoneInfo("Asia/Shanghai")
USER_AGENT = "iClock Proxy/1.09"
"""What ZKTeco PUSH firmware names itself in every request."""


@dataclass(frozen=True, slots=True)
class AttRecord:
    """One record on the terminal: PIN, local time (naive), punch state, verify mode, work code."""

    pin: str
    at: datetime
    status: int = 0
    verify: int = 1
    workcode: int = 0


@dataclass(frozen=True, slots=True)
class PushResult:
    """The server's answer to one upload: HTTP status and body (``None`` if it did not answer)."""

    status_code: int | None
    body: str

    @property
    def acknowledged(self) -> int | None:
        """``n`` of ``OK:<n>`` on a 200 answer, else ``None``."""
        if self.status_code != 200 or not self.body.startswith("OK"):
            return None
        _, _, count = self.body.strip().partition(":")
        return int(count) if count.isdigit() else 0


class PushTerminal:
    """One PUSH terminal (see the module docstring); use as a context manager or ``close()``."""

    def __init__(
        self,
        base_url: str,
        sn: str,
        *,
        records: Iterable[AttRecord] = (),
        fields: int = 10,
        separator: str = "\t",
        line_ending: str = "\n",
        bom: bool = False,
        trailing_blank_lines: int = 0,
        trailing_separator: bool = True,
        batch_size: int = 100,
        pushver: str = "2.4.1",
        firmware: str = "Ver 6.60 Sep 23 2015",
        ip: str = "127.0.0.1",
        timeout_s: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        zone: tzinfo = BEIJING,
        clock_offset: timedelta = timedelta(0),
        accepts_clock_set: bool = True,
        source_address: str | None = None,
    ) -> None:
        """``source_address``: the local address its requests leave from (a terminal at
        another address of the LAN, e.g. ``127.0.0.2`` on a test host); by default the
        system's choice."""
        if not 2 <= fields <= 12:
            raise ValueError("an ATTLOG line has 2 to 12 fields")
        self.sn = sn
        self.fields = fields
        self.separator = separator
        self.line_ending = line_ending
        self.bom = bom
        self.trailing_blank_lines = trailing_blank_lines
        self.trailing_separator = trailing_separator
        self.batch_size = batch_size
        self.pushver = pushver
        self.firmware = firmware
        self.ip = ip
        self.clock = clock
        self.zone = zone
        self.clock_offset = clock_offset
        self.accepts_clock_set = accepts_clock_set
        self._info_due = False
        self.pending: list[AttRecord] = list(records)
        self.sent: list[AttRecord] = []
        self.options: dict[str, str] = {}
        self.results: list[PushResult] = []
        self.commands_done: list[str] = []
        self._stamp = 0
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout_s,
            transport=None
            if source_address is None
            else httpx.HTTPTransport(local_address=source_address),
            headers={"User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"},
        )
        # Only the headers the firmware sends: httpx would add its own Accept-Encoding.
        self._http.headers.pop("Accept-Encoding", None)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- protocol --------------------------------------------------------------------------

    def handshake(self) -> dict[str, str]:
        """Send the handshake and keep the options the server gave (``GET OPTION FROM`` line
        under the key ``GET OPTION FROM``)."""
        response = self._http.get(
            "/iclock/cdata",
            params={"SN": self.sn, "options": "all", "pushver": self.pushver, "language": "83"},
        )
        response.raise_for_status()
        options: dict[str, str] = {}
        for line in response.text.splitlines():
            if line.startswith("GET OPTION FROM:"):
                options["GET OPTION FROM"] = line.partition(":")[2].strip()
                continue
            key, sep, value = line.partition("=")
            if sep:
                options[key.strip()] = value
        self.options = options
        self._info_due = True
        return options

    def punch(self, pin: str, at: datetime, *, status: int = 0, verify: int = 1) -> AttRecord:
        """Record a punch on the terminal (sent on the next ``push()``)."""
        record = AttRecord(pin, at, status, verify)
        self.pending.append(record)
        return record

    def reading(self) -> datetime:
        """What the terminal's clock reads now (local, naive)."""
        if self.clock is None:
            raise ValueError("a terminal without a clock has no reading")
        return self.clock().astimezone(self.zone).replace(tzinfo=None) + self.clock_offset

    def punch_now(self, pin: str, *, status: int = 0, verify: int = 1) -> AttRecord:
        """Record a punch stamped by the terminal's clock (sent on the next ``push()``)."""
        return self.punch(pin, self.reading(), status=status, verify=verify)

    def _execute(self, text: str) -> tuple[str, int]:
        """Run one command: its reply ``CMD`` and return code."""
        if text.startswith("SET OPTION "):
            key, _, value = text.removeprefix("SET OPTION ").partition("=")
            if key == "DateTime":
                if not self.accepts_clock_set:
                    return "SET OPTION", -1002
                if self.clock is None:  # its records carry their own times: nothing to set
                    return "SET OPTION", 0
                self.clock_offset = _unpack_time(int(value)) - (self.reading() - self.clock_offset)
            return "SET OPTION", 0
        return text.split(" ", 1)[0], 0

    def format_line(self, record: AttRecord) -> str:
        values = [
            record.pin,
            record.at.strftime("%Y-%m-%d %H:%M:%S"),
            str(record.status),
            str(record.verify),
            str(record.workcode),
        ]
        values += ["0"] * (self.fields - len(values))
        line = self.separator.join(values[: self.fields])
        return line + self.separator if self.trailing_separator else line

    def body_for(self, records: Sequence[AttRecord]) -> bytes:
        text = "".join(self.format_line(r) + self.line_ending for r in records)
        text += self.line_ending * self.trailing_blank_lines
        return (b"\xef\xbb\xbf" if self.bom else b"") + text.encode("utf-8")

    def _upload(self, records: Sequence[AttRecord]) -> PushResult:
        self._stamp += 1
        try:
            response = self._http.post(
                "/iclock/cdata",
                params={"SN": self.sn, "table": "ATTLOG", "Stamp": str(self._stamp)},
                content=self.body_for(records),
            )
        except httpx.HTTPError as exc:
            result = PushResult(None, str(exc))
        else:
            result = PushResult(response.status_code, response.text)
        self.results.append(result)
        return result

    def push(self) -> int:
        """Upload pending records in batches; returns how many the server acknowledged. A batch
        that is not acknowledged stays pending (with the ones after it) for the next call."""
        done = 0
        while self.pending:
            batch = self.pending[: self.batch_size]
            if self._upload(batch).acknowledged is None:
                break
            del self.pending[: len(batch)]
            self.sent.extend(batch)
            done += len(batch)
        return done

    def repush(self, records: Sequence[AttRecord] | None = None) -> PushResult:
        """Upload ``records`` (default: all acknowledged ones) again."""
        return self._upload(list(self.sent if records is None else records))

    def info(self) -> str:
        """The device-status ``INFO`` value: firmware, users, fingerprints, records, IP,
        fingerprint and face algorithm versions, faces to enrol, faces, function flags (a
        fingerprint terminal: ``100``)."""
        records = self.sent + self.pending
        users = len({r.pin for r in records})
        values = [self.firmware, users, 0, len(records), self.ip, 10, 0, 0, 0, "100"]
        return ",".join(str(v) for v in values)

    def poll(self) -> list[str]:
        """Poll ``getrequest`` (with ``INFO`` the first time after a handshake); report each
        ``C:<id>:<cmd>`` as done (``Return=0``) in one ``devicecmd`` post."""
        params = {"SN": self.sn}
        if self._info_due:
            params["INFO"] = self.info()
        response = self._http.get("/iclock/getrequest", params=params)
        response.raise_for_status()
        self._info_due = False
        commands = [line for line in response.text.splitlines() if line.startswith("C:")]
        if commands:
            lines = []
            for command in commands:
                _, command_id, text = command.split(":", 2)
                name, code = self._execute(text)
                lines.append(f"ID={command_id}&Return={code}&CMD={name}")
            self._http.post(
                "/iclock/devicecmd", params={"SN": self.sn}, content="\n".join(lines).encode()
            ).raise_for_status()
            self.commands_done.extend(commands)
        return commands


def _unpack_time(value: int) -> datetime:
    """A packed firmware time (seconds in a calendar of 12 months of 31 days from 2000)."""
    value, second = divmod(value, 60)
    value, minute = divmod(value, 60)
    value, hour = divmod(value, 24)
    value, day = divmod(value, 31)
    year, month = divmod(value, 12)
    return datetime(2000 + year, month + 1, day + 1, hour, minute, second)  # noqa: DTZ001 - local
