"""The ZKTeco HTTP PUSH protocol (``/iclock/...``), sans-I/O: query and body text in, records
and reply text out.

A terminal configured with a server address talks to it in four requests:

* ``GET /iclock/cdata?SN=<sn>&options=all&pushver=...`` — the handshake. The server answers the
  options block (``GET OPTION FROM: <sn>`` then ``Key=Value`` lines: ``ATTLOGStamp``,
  ``OPERLOGStamp``, ``ErrorDelay``, ``Delay``, ``TransTimes``, ``TransInterval``, ``TransFlag``,
  ``TimeZone``, ``Realtime``, ``Encrypt``), see :func:`handshake_reply`.
* ``POST /iclock/cdata?SN=<sn>&table=ATTLOG&Stamp=<n>`` — attendance records, one a line:
  ``PIN \\t YYYY-MM-DD hh:mm:ss \\t Status \\t Verify \\t Workcode \\t Reserved...`` in the
  terminal's local time; the server answers ``OK:<records processed>``. Other tables (OPERLOG,
  options, ATTPHOTO...) are answered ``OK`` too so the terminal does not resend them forever.
* ``GET /iclock/getrequest?SN=<sn>`` — polls for commands: ``OK`` or ``C:<id>:<command>`` lines.
* ``POST /iclock/devicecmd?SN=<sn>`` — command results, ``ID=..&Return=..&CMD=..`` lines.

:func:`parse_attlog` is tolerant of what real firmware sends: fewer or more trailing fields,
CRLF/LF/CR line endings, blank lines, a UTF-8 BOM, runs of spaces instead of tabs, the date and
time in two fields. Each bad line becomes a ``Rejected`` with the reason; good lines are kept.
It is O(lines) and does no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from drivers.zkteco.push_address import Network
from drivers.zkteco.semantics import punch_kind, verify_mode
from gateway.errors import ConfigError
from gateway.records import Punch, Rejected

__all__ = [
    "DEFAULT_TIMEZONE",
    "SOURCE_FORMAT",
    "AttlogBatch",
    "CommandResult",
    "Handshake",
    "TerminalConfig",
    "count_records",
    "decode_body",
    "handshake_reply",
    "parse_attlog",
    "parse_devicecmd",
    "parse_handshake",
    "parse_info",
    "query_value",
    "zone_for",
]

SOURCE_FORMAT = "zkteco_push"
DEFAULT_TIMEZONE = "Asia/Shanghai"

_TIME_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?$")
_DATE_ONLY_RE = re.compile(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}$")
_TIME_ONLY_RE = re.compile(r"^\d{1,2}:\d{1,2}(?::\d{1,2})?$")


@dataclass(frozen=True, slots=True)
class TerminalConfig:
    """How the gateway treats one PUSH terminal and what it tells it in the handshake.

    ``timezone`` is the IANA zone the terminal's clock is set to (its records are local time).
    The other fields are sent as the terminal's options: ``delay_s`` between polls,
    ``error_delay_s`` after a failed request, ``trans_times`` (fixed upload times, ``hh:mm;hh:mm``),
    ``trans_interval_min`` between uploads of pending data, ``trans_flag`` (which tables to send),
    ``realtime`` (send each record as it happens), ``encrypt`` (always ``None``: we do not support
    the encrypted variant). The terminal's clock is set to the gateway's at each session's
    start (``SET OPTION DateTime``, see ``push_clock``).

    ``addresses`` are the networks the terminal speaks from (its site file ``address``): a
    request for it from any other TCP peer is refused; empty, any peer is answered
    (``push_address``).
    """

    timezone: str = DEFAULT_TIMEZONE
    addresses: tuple[Network, ...] = ()
    delay_s: int = 10
    error_delay_s: int = 30
    trans_times: str = "00:00;14:05"
    trans_interval_min: int = 1
    trans_flag: str = "TransData AttLog\tOpLog"
    realtime: bool = True

    def __post_init__(self) -> None:
        zone_for(self.timezone)  # fails early on a misspelt zone


@dataclass(frozen=True, slots=True)
class Handshake:
    """The handshake query: serial number, what the terminal asks for, its protocol version."""

    sn: str
    options: str = ""
    pushver: str = ""
    language: str = ""
    pushcommkey: str = ""


@dataclass(frozen=True, slots=True)
class AttlogBatch:
    """What one ATTLOG body held: the punches, the refused lines, and how many lines were records.

    ``processed`` counts every non-blank line (kept or refused): it is the ``<n>`` of ``OK:<n>``,
    so the terminal does not resend a line we refused for good.
    """

    punches: tuple[Punch, ...] = ()
    rejects: tuple[Rejected, ...] = ()
    processed: int = 0


@dataclass(frozen=True, slots=True)
class CommandResult:
    """One line of a ``devicecmd`` body: the command id, its return code, the command name."""

    command_id: str
    return_code: int | None
    command: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


@lru_cache(maxsize=64)
def zone_for(name: str) -> tzinfo:
    """The ``tzinfo`` for an IANA zone name; ``ConfigError`` when unknown."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {name!r} for a ZKTeco terminal") from exc


def query_value(query: Mapping[str, str], name: str) -> str | None:
    """The value of query parameter ``name``, matched case-insensitively (firmware varies)."""
    if name in query:
        return query[name]
    lowered = name.lower()
    for key, value in query.items():
        if key.lower() == lowered:
            return value
    return None


def parse_handshake(query: Mapping[str, str]) -> Handshake:
    """Read a handshake query; ``ValueError`` when it has no serial number."""
    sn = (query_value(query, "SN") or "").strip()
    if not sn:
        raise ValueError("PUSH request without SN")
    return Handshake(
        sn=sn,
        options=query_value(query, "options") or "",
        pushver=query_value(query, "pushver") or "",
        language=query_value(query, "language") or "",
        pushcommkey=query_value(query, "pushcommkey") or "",
    )


def _time_zone_option(zone: tzinfo, at: datetime) -> str:
    """``TimeZone=``: whole hours, else minutes (V5.8: ``330`` for UTC+5:30; firmware reads
    ``5.5`` as 5)."""
    minutes = int((at.astimezone(zone).utcoffset() or timedelta(0)).total_seconds() // 60)
    return str(minutes // 60) if minutes % 60 == 0 else str(minutes)


def handshake_reply(
    sn: str,
    config: TerminalConfig,
    *,
    now: datetime,
    attlog_stamp: str = "None",
    operlog_stamp: str = "9999",
) -> str:
    """The options block answering a handshake (layout of the V5.8 protocol's example).

    ``attlog_stamp`` ``None`` asks the terminal for all its records (the gateway deduplicates);
    ``operlog_stamp`` ``9999`` tells it we do not want the operation log from its beginning.
    ``TimeZone`` is the zone's UTC offset at ``now``, in hours (in minutes for a zone off the
    hour). Lines end with LF.
    """
    zone = zone_for(config.timezone)
    lines = [
        f"GET OPTION FROM: {sn}",
        f"ATTLOGStamp={attlog_stamp}",
        f"OPERLOGStamp={operlog_stamp}",
        "ATTPHOTOStamp=None",
        f"ErrorDelay={config.error_delay_s}",
        f"Delay={config.delay_s}",
        f"TransTimes={config.trans_times}",
        f"TransInterval={config.trans_interval_min}",
        f"TransFlag={config.trans_flag}",
        f"TimeZone={_time_zone_option(zone, now)}",
        f"Realtime={1 if config.realtime else 0}",
        "Encrypt=None",
    ]
    return "\n".join(lines) + "\n"


def decode_body(body: bytes) -> str:
    """Body bytes as text: UTF-8 (a BOM dropped), else GB18030 (Chinese firmware), else Latin-1."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return body.decode(encoding)
        except UnicodeDecodeError:
            continue
    return body.decode("latin-1")


def _split_fields(line: str) -> list[str]:
    # Firmware that pads with spaces splits date and time into two fields: merged below.
    fields = [part.strip() for part in line.split("\t")] if "\t" in line else line.split()
    if len(fields) >= 3 and _DATE_ONLY_RE.match(fields[1]) and _TIME_ONLY_RE.match(fields[2]):
        fields[1:3] = [f"{fields[1]} {fields[2]}"]
    return fields


def _parse_local_time(text: str) -> datetime | None:
    match = _TIME_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute = (int(g) for g in match.groups()[:5])
    second = int(match.group(6) or 0)
    try:
        return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - local, zoned below
    except ValueError:
        return None


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_attlog(
    body: bytes | str,
    *,
    terminal_id: str,
    received_at: datetime,
    zone: tzinfo | str = DEFAULT_TIMEZONE,
) -> AttlogBatch:
    """Parse an ATTLOG upload into punches (device time converted from ``zone`` to UTC).

    Per line: PIN (required, non-empty: a blank one is refused, ``blank PIN``, never read as
    another field or as ``0``), time (required), punch state (0-5; missing or empty
    is taken as 0, what terminals without state keys record), verify (optional; anything not a
    number is ``UNKNOWN``), then any number of further fields (ignored). ``raw`` of each punch
    is the line as received; ``terminal_id`` is the terminal's serial number.
    """
    text = decode_body(body) if isinstance(body, bytes) else body.removeprefix("\ufeff")
    tz = zone_for(zone) if isinstance(zone, str) else zone
    received = received_at.astimezone(UTC)
    punches: list[Punch] = []
    rejects: list[Rejected] = []
    processed = 0
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        processed += 1
        raw = line.encode("utf-8", "replace")

        def reject(reason: str, raw: bytes = raw) -> None:
            rejects.append(Rejected(reason=reason, raw=raw, device_id=terminal_id))

        fields = _split_fields(line.rstrip())
        if len(fields) < 2:
            reject("ATTLOG line has no time field")
            continue
        pin = fields[0]
        # Space-padded lines lose an empty PIN field: the date comes first, the time second.
        blank = not pin or (_DATE_ONLY_RE.match(pin) and _TIME_ONLY_RE.match(fields[1]))
        if blank:
            reject("blank PIN: the ATTLOG line has an empty PIN field")
            continue
        local = _parse_local_time(fields[1])
        if local is None:
            reject(f"ATTLOG time is not YYYY-MM-DD hh:mm:ss: {fields[1]!r}")
            continue
        state_text = fields[2] if len(fields) > 2 else ""
        state = 0 if state_text == "" else _int_or_none(state_text)
        kind = None if state is None else punch_kind(state)
        if kind is None:
            reject(f"ATTLOG punch state {state_text!r} is not 0-5")
            continue
        verify = _int_or_none(fields[3]) if len(fields) > 3 else None
        try:
            punched_at = local.replace(tzinfo=tz).astimezone(UTC)
        except (OverflowError, ValueError):  # year 1 east of UTC, 9999 west of it
            reject(f"ATTLOG time out of range: {fields[1]!r}")
            continue
        punches.append(
            Punch(
                terminal_id=terminal_id,
                person_id=pin,
                punched_at=punched_at,
                received_at=received,
                kind=kind,
                verify=verify_mode(verify),
                source_format=SOURCE_FORMAT,
                raw=stripped,
            )
        )
    return AttlogBatch(punches=tuple(punches), rejects=tuple(rejects), processed=processed)


def count_records(body: bytes | str) -> int:
    """How many non-blank lines a body of another table (OPERLOG, options...) holds."""
    text = decode_body(body) if isinstance(body, bytes) else body
    return sum(1 for line in text.splitlines() if line.strip())


def _pairs(line: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in line.split("&"):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def parse_devicecmd(body: bytes | str) -> tuple[CommandResult, ...]:
    """Parse command results (``ID=info8487&Return=0&CMD=DATA`` a line); lines without ``ID``
    are skipped."""
    text = decode_body(body) if isinstance(body, bytes) else body
    results: list[CommandResult] = []
    for line in text.splitlines():
        pairs = _pairs(line.strip())
        command_id = pairs.pop("ID", "")
        if not command_id:
            continue
        return_code = _int_or_none(pairs.pop("Return", ""))
        command = pairs.pop("CMD", "")
        results.append(CommandResult(command_id, return_code, command, pairs))
    return tuple(results)


def parse_info(info: str) -> tuple[str, ...]:
    """The comma-separated fields of a getrequest ``INFO`` parameter (firmware version, user
    count, fingerprint count, record count, IP address, ...), as text."""
    return tuple(part.strip() for part in info.split(",")) if info else ()
