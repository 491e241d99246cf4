"""The clocks of PUSH terminals: set them, and correct punches dated by a clock left behind.

A PUSH terminal dates its ATTLOG lines by its own clock; set to UTC instead of Beijing time, or
left to run minutes slow, it dates a 07:58 check-in 23:58 the day before. The protocol gives the
server two ways to reach that clock, and a careful server uses both:

* the handshake's ``TimeZone=`` option (``push_codec.handshake_reply``), the zone the
  terminal's records are read in;
* the command ``SET OPTION DateTime=<packed time>`` handed out on the terminal's next
  ``getrequest`` after each session's start (a handshake: a reconnect, a reboot; or its first
  request after a silence), and again whenever its records show the clock behind. The value
  is the terminal's local time in its configured zone, packed as the binary protocol packs
  times (``binary_records``), computed when the command is handed out. ``Return=0`` on
  ``devicecmd`` means the clock was set.

Firmware that refuses the command (or never answers it) keeps its wrong clock, so the records
themselves are read too. A record is taken as **made just now** only when nothing but an offset
clock explains its date: the terminal is in a **live session** (it handshook, and it has sent a
request at least every ``ONLINE_GAP`` since: it could upload at any moment), the gateway asks
for real-time uploads (``Realtime=1``), and the record is dated after that session began yet
arrives more than ``TOLERANCE`` after its date. Such a record, had it been made at its date,
would have been uploaded then; it was not, so the terminal's clock is behind by the lag. The
correction is that lag rounded to the whole minute, kept while later measures stay within a
minute of it (a re-sent record must land where it landed before); the punch is dated by the
terminal's time less it, ``clock_corrected_s`` says by how much, ``raw`` keeps the line.

A genuine backlog is never shifted: records an offline terminal kept arrive in a session that
began after they were made (a reconnect starts with a handshake; a silence longer than
``ONLINE_GAP`` also ends the session; so does an upload the gateway could not store, which the
terminal keeps and sends again), so they fail the first test whatever their lag; records made
before the clock was last set are such records too. So are records of a terminal asked for
timed uploads (``Realtime=0``: its records wait for ``TransInterval`` by design). A clock running
ahead is left to the pipeline, which dates such punches by their arrival (``clock_ahead``).
Limit: a terminal hours behind whose session is younger than its lag, and that refuses the clock
setting, is not corrected until the session is that old.

State lives in memory per serial number (a restart starts every terminal afresh); the class is
thread-safe (the router's handlers run in a thread pool).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from drivers.zkteco.push_codec import CommandResult, TerminalConfig, zone_for
from gateway.clock import Clock
from gateway.records import Punch

__all__ = ["ONLINE_GAP", "TOLERANCE", "PushClocks", "pack_time"]

log = logging.getLogger(__name__)

TOLERANCE = timedelta(minutes=2)
"""A record arriving at most this long after its date is taken as dated right (an upload
retried after ``ErrorDelay``, a poll interval)."""
ONLINE_GAP = timedelta(minutes=3)
"""The longest silence (no request at all) a live session survives; a terminal polls every
``Delay`` seconds (10 by default) and retries after ``ErrorDelay`` (30)."""
_STEP = timedelta(minutes=1)
_SET_TIME = "SET OPTION DateTime="


def pack_time(local: datetime) -> int:
    """A local time packed as ZKTeco firmware counts it (12 months of 31 days from 2000)."""
    days = ((local.year % 100) * 12 + local.month - 1) * 31 + local.day - 1
    return days * 86400 + (local.hour * 60 + local.minute) * 60 + local.second


@dataclass(slots=True)
class _Terminal:
    session_from: datetime
    last_seen: datetime
    set_due: bool = True
    set_pending: str | None = None
    applied: timedelta = timedelta(0)


class PushClocks:
    """Clock setting and correction for every PUSH terminal (module docstring)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._terminals: dict[str, _Terminal] = {}
        self._next = 1

    def handshake(self, sn: str) -> None:
        """A handshake: a new session begins now, and the clock is to be set."""
        now = self._clock.now()
        with self._lock:
            held = self._terminals.get(sn)
            applied = held.applied if held is not None else timedelta(0)
            self._terminals[sn] = _Terminal(now, now, applied=applied)

    def seen(self, sn: str) -> None:
        """Any request of ``sn``: it keeps its session live, or, after a silence longer than
        ``ONLINE_GAP`` (or with no handshake seen), begins one now."""
        now = self._clock.now()
        with self._lock:
            held = self._terminals.get(sn)
            if held is None:
                self._terminals[sn] = _Terminal(now, now)
                return
            if now - held.last_seen > ONLINE_GAP:
                held.session_from = now
                held.set_due = True
            held.last_seen = now

    def refused(self, sn: str) -> None:
        """An upload of ``sn`` the gateway could not store (answered 503): the terminal keeps
        those records and sends them again later, so they will arrive late through no fault
        of its clock. Its session begins again now: what it made before is a backlog."""
        now = self._clock.now()
        with self._lock:
            held = self._terminals.get(sn)
            if held is not None:
                held.session_from = now

    def command(self, sn: str, config: TerminalConfig) -> str | None:
        """The ``C:<id>:SET OPTION DateTime=..`` line to hand out now, if the clock is to be
        set (the local time in ``config``'s zone)."""
        now = self._clock.now()
        with self._lock:
            held = self._terminals.get(sn)
            if held is None or not held.set_due:
                return None
            command_id = f"time{self._next}"
            self._next += 1
            held.set_due = False
            held.set_pending = command_id
        local = now.astimezone(zone_for(config.timezone)).replace(tzinfo=None)
        return f"C:{command_id}:{_SET_TIME}{pack_time(local)}"

    def result(self, sn: str, result: CommandResult) -> None:
        """A ``devicecmd`` result: the clock set (``Return=0``) ends the correction in force."""
        with self._lock:
            held = self._terminals.get(sn)
            if held is None or held.set_pending != result.command_id:
                return
            held.set_pending = None
            if result.return_code == 0:
                held.applied = timedelta(0)
                return
        log.warning(
            "ZKTeco %s refused to set its clock (return %s); its punches are corrected by "
            "the lag of its real-time records",
            sn,
            result.return_code,
        )

    def correct(self, sn: str, config: TerminalConfig, punches: Sequence[Punch]) -> list[Punch]:
        """``punches`` of one upload, those only an offset clock explains dated by the
        gateway's clock (module docstring); the others as they came."""
        if not punches or not config.realtime:
            return list(punches)
        with self._lock:
            held = self._terminals.get(sn)
            if held is None:
                return list(punches)
            live = [p for p in punches if p.punched_at >= held.session_from]
            lags = [p.received_at - p.punched_at for p in live]
            behind = [lag for lag in lags if lag > TOLERANCE]
            if not behind:
                return list(punches)
            measured = min(behind)  # the newest record: nearest to being made at its arrival
            applied = held.applied
            if not applied or abs(measured - applied) > _STEP:
                applied = _STEP * round(measured / _STEP)
            if applied != held.applied:
                log.warning(
                    "ZKTeco %s: its clock runs %.0f s behind the gateway's; its real-time "
                    "punches are dated %.0f s later",
                    sn,
                    measured.total_seconds(),
                    applied.total_seconds(),
                )
                held.set_due = True  # and try setting it again
            held.applied = applied
            session_from = held.session_from
        return [_corrected(p, applied, session_from) for p in punches]


def _corrected(punch: Punch, applied: timedelta, session_from: datetime) -> Punch:
    lag = punch.received_at - punch.punched_at
    if punch.punched_at < session_from or lag <= TOLERANCE:
        return punch
    return replace(
        punch,
        punched_at=punch.punched_at + applied,
        clock_corrected_s=applied.total_seconds(),
    )
