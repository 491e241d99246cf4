"""Play a field scenario (checkpoint readers, clock-in terminals) on an injected clock.

The file format and its validation are in :mod:`fwsim.scenario.field_spec`; this module owns
the simulated devices and plays the timeline, the way ``ScenarioRunner`` plays GPS terminals:

* ``run_until(t)``: performs every action due at or before ``t`` and returns, for tests on a
  ``ManualClock`` (advance the clock, call ``run_until(clock.now())``, let the gateway settle);
* ``start()`` (background thread) or ``run()`` (blocking): performs each action when the clock
  reaches it, sleeping ``(due - now) / clock.rate`` wall seconds in between, so an
  ``AcceleratedClock`` at 60x plays an hour in a minute.

Devices live in wall time: an NFC tag held ``seconds`` is held that long on the wall whatever
the clock's rate (a reader needs real time to read it), and EM4100 repeats go out back to back.
Punches carry the clock's time at the action, as the terminal's local time in the scenario's
``timezone``. PUSH terminals talk to ``api_url`` (or their own ``base_url``) and shake hands
before their first upload; a failed upload keeps the records pending, as the firmware does.

Open the runner (``open()`` or ``with``) before configuring the gateway: ``reader_url`` and
``terminal_url`` give the addresses a site file names (a pty path, ``tty:<path>:pn532``,
``tcp://127.0.0.1:<port>``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self
from zoneinfo import ZoneInfo

import httpx

from fwsim.em4100 import SimulatedEm4100Reader
from fwsim.pn532 import Pn532Simulator
from fwsim.scenario.background import BackgroundRun
from fwsim.scenario.field_spec import (
    PUNCH_STATES,
    VERIFY_CODES,
    FieldAction,
    FieldScenario,
    NfcTagSpec,
    ReaderSpec,
    TerminalSpec,
    load_field_scenario,
    parse_field_scenario,
)
from fwsim.zkteco.binary_terminal import BinaryTerminal
from fwsim.zkteco.push_terminal import PushTerminal
from gateway.clock import Clock, utc

__all__ = [
    "PUNCH_STATES",
    "VERIFY_CODES",
    "FieldAction",
    "FieldRunner",
    "FieldScenario",
    "FieldStats",
    "NfcTagSpec",
    "ReaderSpec",
    "TerminalSpec",
    "load_field_scenario",
    "parse_field_scenario",
]

log = logging.getLogger(__name__)

_MAX_WAIT_WALL_S = 0.5  # wake at least this often to notice stop()


class FieldStats:
    """Counters of one device: ``presentations`` (EM4100 scans and NFC presentations made),
    ``frames`` (EM4100 frames sent, repeats included), ``punches`` recorded on the terminal,
    ``acknowledged`` records (PUSH ``OK:<n>``), ``faults`` injected, ``failed`` writes (the
    device was unplugged or nobody read the line)."""

    __slots__ = ("acknowledged", "failed", "faults", "frames", "presentations", "punches")

    def __init__(self) -> None:
        self.presentations = self.frames = self.punches = 0
        self.acknowledged = self.faults = self.failed = 0

    def copy(self) -> FieldStats:
        other = FieldStats()
        for name in self.__slots__:
            setattr(other, name, getattr(self, name))
        return other

    def __repr__(self) -> str:
        values = ", ".join(f"{n}={getattr(self, n)}" for n in self.__slots__)
        return f"FieldStats({values})"


class FieldRunner(BackgroundRun):
    """Owns a field scenario's simulated devices and plays its timeline (module docstring).

    ``start`` defaults to the clock's current whole second; ``api_url`` is the gateway's base
    URL for PUSH terminals without their own ``base_url`` (it may be set before the first punch).
    """

    def __init__(
        self,
        scenario: FieldScenario,
        clock: Clock,
        *,
        start: datetime | None = None,
        api_url: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.start_time = utc(start) if start else clock.now().replace(microsecond=0)
        self.api_url = api_url
        self.plan: list[tuple[datetime, FieldAction]] = [
            (self.start_time + timedelta(seconds=a.at_s), a) for a in scenario.timeline
        ]
        self._zone = ZoneInfo(scenario.timezone)
        self._readers = {r.id: r for r in scenario.readers}
        self._terminals = {t.id: t for t in scenario.terminals}
        self._stats = {d: FieldStats() for d in [*self._readers, *self._terminals]}
        self._em: dict[str, SimulatedEm4100Reader] = {}
        self._nfc: dict[str, Pn532Simulator] = {}
        self._binary: dict[str, BinaryTerminal] = {}
        self._push: dict[str, PushTerminal] = {}
        self._dir: Path | None = None
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # -- state ---------------------------------------------------------------------------
    @property
    def end_time(self) -> datetime:
        """Time of the last action (the start when the timeline is empty)."""
        return self.plan[-1][0] if self.plan else self.start_time

    @property
    def pending(self) -> int:
        """Actions not yet performed."""
        return len(self.plan) - self._next

    @property
    def finished(self) -> bool:
        return self._next >= len(self.plan)

    def stats(self) -> dict[str, FieldStats]:
        """A copy of the per-device counters, keyed by device id."""
        with self._lock:
            return {k: v.copy() for k, v in self._stats.items()}

    def presentations(self) -> int:
        """Scans and NFC presentations made so far, over every reader."""
        with self._lock:
            return sum(s.presentations for s in self._stats.values())

    # -- devices -------------------------------------------------------------------------
    def open(self) -> None:
        """Create every reader's pseudo-terminal and start the PN532 and binary terminals."""
        if self._dir is not None:
            return
        self._dir = Path(tempfile.mkdtemp(prefix="fwsim-field-"))
        for reader in self.scenario.readers:
            if reader.kind == "em4100":
                self._em[reader.id] = SimulatedEm4100Reader(
                    reader.variant, link_dir=self._dir, link_name=reader.id
                )
            else:
                self._nfc[reader.id] = Pn532Simulator(self._dir / reader.id).start()
        for terminal in self.scenario.terminals:
            if terminal.kind == "zkteco_binary":
                device = BinaryTerminal(now=self._local(self.start_time))
                device.start()
                self._binary[terminal.id] = device

    def reader_url(self, reader_id: str) -> str:
        """What a site file's reader ``url`` must say to reach this simulated reader."""
        self.open()
        if reader_id in self._em:
            return self._em[reader_id].url
        return f"tty:{self._nfc[reader_id].path}:pn532"

    def terminal_url(self, terminal_id: str) -> str:
        """``tcp://127.0.0.1:<port>`` of a binary terminal (PUSH terminals dial out instead)."""
        self.open()
        return f"tcp://127.0.0.1:{self._binary[terminal_id].port}"

    def em4100(self, reader_id: str) -> SimulatedEm4100Reader:
        self.open()
        return self._em[reader_id]

    def pn532(self, reader_id: str) -> Pn532Simulator:
        self.open()
        return self._nfc[reader_id]

    def binary_terminal(self, terminal_id: str) -> BinaryTerminal:
        self.open()
        return self._binary[terminal_id]

    def push_terminal(self, terminal_id: str) -> PushTerminal:
        """The PUSH terminal (created on first use, talking to its ``base_url`` or ``api_url``)."""
        terminal = self._push.get(terminal_id)
        if terminal is None:
            spec = self._terminals[terminal_id]
            base_url = spec.base_url or self.api_url
            if base_url is None:
                raise ValueError(f"terminal {terminal_id}: no base_url and no api_url given")
            terminal = PushTerminal(base_url, spec.sn)
            self._push[terminal_id] = terminal
        return terminal

    # -- actions -------------------------------------------------------------------------
    def _local(self, at: datetime) -> datetime:
        return utc(at).astimezone(self._zone).replace(tzinfo=None)

    def _perform(self, at: datetime, action: FieldAction) -> None:
        kind = action.kind
        with self._lock:
            stats = self._stats[action.device]
        try:
            if action.device in self._readers:
                self._reader_action(action, stats)
            else:
                self._terminal_action(at, action, stats)
        except OSError as exc:  # unplugged, or nobody reading: a device cannot report it
            log.warning("%s on %s failed: %s", kind, action.device, exc)
            with self._lock:
                stats.failed += 1

    def _reader_action(self, action: FieldAction, stats: FieldStats) -> None:
        kind, device = action.kind, action.device
        if kind == "scan":
            self._em[device].send(action.tag, action.repeats)
            with self._lock:
                stats.presentations += 1
                stats.frames += action.repeats
        elif kind == "present_nfc":
            sim = self._nfc[device]
            sim.present(self._readers[device].tags[action.tag].build())
            self._stop.wait(action.seconds)
            sim.remove()
            with self._lock:
                stats.presentations += 1
        elif kind in ("unplug", "replug"):
            reader: SimulatedEm4100Reader | Pn532Simulator = (
                self._em[device] if device in self._em else self._nfc[device]
            )
            reader.unplug() if kind == "unplug" else reader.replug()
        else:
            em = self._em[device]
            if kind == "noise":
                em.noise()
            elif kind == "partial_frame":
                em.partial_frame()
            else:
                em.bad_checksum(action.tag)
            with self._lock:
                stats.faults += 1

    def _terminal_action(self, at: datetime, action: FieldAction, stats: FieldStats) -> None:
        kind, device = action.kind, action.device
        if device in self._binary:
            terminal = self._binary[device]
            if kind == "punch":
                terminal.punch(action.pin, action.punch, action.verify, self._local(at))
                with self._lock:
                    stats.punches += 1
            elif kind == "restart":
                terminal.restart()
            return
        push = self.push_terminal(device)
        if kind == "punch":
            push.punch(action.pin, self._local(at), status=action.punch, verify=action.verify)
            with self._lock:
                stats.punches += 1
        if kind == "repush":
            self._handshake(push)
            push.repush()
            with self._lock:
                stats.faults += 1
        elif kind == "push" or (kind == "punch" and action.push):
            self._handshake(push)
            done = push.push()
            with self._lock:
                stats.acknowledged += done

    def _handshake(self, terminal: PushTerminal) -> None:
        if terminal.options:
            return
        try:
            terminal.handshake()
        except httpx.HTTPError as exc:  # the firmware uploads anyway and shakes hands later
            log.warning("terminal %s: handshake failed: %s", terminal.sn, exc)

    # -- playing -------------------------------------------------------------------------
    def run_until(self, when: datetime | None = None) -> int:
        """Perform every action due at or before ``when`` (default: the clock's now), in order;
        return how many were performed."""
        self.open()
        limit = utc(when) if when is not None else self.clock.now()
        count = 0
        while not self.finished and self.plan[self._next][0] <= limit:
            at, action = self.plan[self._next]
            self._perform(at, action)
            with self._lock:
                self._next += 1
            count += 1
        return count

    def run(self) -> None:
        """Perform the actions in clock time until the plan is done or ``stop()`` is called."""
        self.open()
        while not self._stop.is_set() and not self.finished:
            at, action = self.plan[self._next]
            now = self.clock.now()
            if at > now:
                wall_s = (at - now).total_seconds() / self.clock.rate
                self._stop.wait(min(wall_s, _MAX_WAIT_WALL_S))
                continue
            self._perform(at, action)
            with self._lock:
                self._next += 1

    def start(self) -> None:
        """Open the devices and run in a background thread (see ``run``)."""
        self.open()
        self.start_background("fwsim-field-runner")

    def stop(self) -> None:
        """Stop the background run (if any) and close every device."""
        self._stop.set()
        self.join_background(10)
        for em in self._em.values():
            em.close()
        for nfc in self._nfc.values():
            nfc.stop()
        for binary in self._binary.values():
            binary.stop()
        for push in self._push.values():
            push.close()
        self._em.clear()
        self._nfc.clear()
        self._binary.clear()
        self._push.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
