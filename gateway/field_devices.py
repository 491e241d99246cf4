"""Starting the site's checkpoint readers and clock-in terminals (called by ``bootstrap``).

Every reader hands its records to the pipeline queue as a ``DecodeOutcome``; none of them does
database or rule work on its own thread. So do the EM4100 readers and the binary clock-in
terminals with what they refuse (a garbled frame, a bad checksum, a record with an impossible
punch state): each is counted by the processor as ``rejected.<problem>`` (``/health``, the
metrics) and logged rate-limited per device and problem (``gateway.pipeline.reject_log``), as
the MQTT path does. ZKTeco PUSH terminals talk to the API's ``/iclock``
routes instead, and get ``OK`` only once their punches are committed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from drivers.peer_lock import PeerLock
from drivers.zkteco.push_address import parse_networks
from drivers.zkteco.push_codec import TerminalConfig
from gateway.clock import Clock
from gateway.db.models import DeviceRow, SiteRow
from gateway.host_lock import HostExclusive, default_lock_dir, lock_path
from gateway.pipeline.commands import ReportReaderState
from gateway.records import (
    CheckpointScan,
    DecodeOutcome,
    Punch,
    PunchKind,
    Rejected,
    VerifyMode,
)

__all__ = [
    "READER_STATES",
    "TERMINAL_STATES",
    "FieldDevices",
    "punch_sink",
    "push_terminal_config",
    "reader_lock_path",
    "start_field_devices",
    "terminal_ids_by_serial",
]

log = logging.getLogger(__name__)


class _Startable(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


class _Runtime(Protocol):
    def submit(self, item: Any) -> None: ...
    def call(self, command: Any, timeout_s: float = ...) -> Any: ...


READER_STATES = ("opening", "standby", "reading", "lost")
"""A checkpoint reader's state in one process (``FieldDevices.reader_states``)."""

TERMINAL_STATES = ("standby", "holding")
"""A network clock-in terminal's state in one process (``FieldDevices.terminal_states``)."""


@dataclasses.dataclass
class FieldDevices:
    """The readers and terminal clients started for the configured devices."""

    running: list[_Startable] = dataclasses.field(default_factory=list)
    stopping: threading.Event = dataclasses.field(default_factory=threading.Event)
    """Set by ``stop``: a reader closed on purpose is not a reader that lost its device."""
    lock_dir: Path = dataclasses.field(default_factory=default_lock_dir)
    """Where network clock-in terminals' host locks (``gateway.host_lock``) and readers' peer
    locks (``drivers.peer_lock``) are kept."""
    _states: dict[str, str] = dataclasses.field(default_factory=dict)
    _states_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    _terminals: dict[str, HostExclusive] = dataclasses.field(default_factory=dict)

    def reader_states(self) -> dict[str, str]:
        """Each checkpoint reader this process started → its state here (``READER_STATES``):
        ``opening`` until its device first opens or is found held or missing, ``standby``
        while another gateway process of the host owns the reader (its peer lock) and this
        process waits to take it over, ``reading`` while its device is open here, ``lost``
        while this process owns the reader and its device is missing, failed, or held by a
        program that is not a gateway process (the reader retries). Processes sharing a host's
        readers each report theirs: exactly one says ``reading`` or ``lost``, the others
        ``standby``. Safe from any thread."""
        with self._states_lock:
            return dict(self._states)

    def terminal_states(self) -> dict[str, str]:
        """Each network clock-in terminal this process started → its state here
        (``TERMINAL_STATES``): ``holding`` while this process holds the terminal's host lock
        and runs its client (whether or not the terminal answers: its client retries),
        ``standby`` while another process of the host holds it. Safe from any thread."""
        with self._states_lock:
            terminals = dict(self._terminals)
        return {
            device_id: "holding" if locked.holding else "standby"
            for device_id, locked in terminals.items()
        }

    def add_terminal(self, device_id: str, locked: HostExclusive) -> None:
        """Report ``locked``'s state as terminal ``device_id``'s in ``terminal_states``."""
        with self._states_lock:
            self._terminals[device_id] = locked

    def set_reader_state(self, device_id: str, state: str) -> None:
        """Record a reader's state (one of ``READER_STATES``)."""
        with self._states_lock:
            self._states[device_id] = state

    def stop(self) -> None:
        self.stopping.set()
        for device in reversed(self.running):
            try:
                device.stop()
            except Exception:
                log.exception("stopping %r failed", device)
        self.running.clear()
        with self._states_lock:
            self._terminals.clear()


def start_field_devices(
    engine: Engine,
    clock: Clock,
    runtime: _Runtime,
    only: Collection[str] | None = None,
    *,
    into: FieldDevices | None = None,
) -> FieldDevices:
    """Open every reader and binary clock-in terminal the site files configure with a URL, or
    of those only the ids in ``only`` (``GATEWAY_FIELD_DEVICES``; an id no site file gives a URL
    is logged, not an error); they are added to ``into`` (a new ``FieldDevices`` by default),
    which is returned, each checkpoint reader in state ``opening``.

    A reader that cannot be opened yet is not an error: each driver retries with back-off and
    reports its state, so a reader plugged in later is picked up.
    """
    with Session(engine) as session:
        rows = session.execute(
            select(DeviceRow, SiteRow.timezone)
            .join(SiteRow, SiteRow.id == DeviceRow.site_id)
            .where(DeviceRow.url.is_not(None))
            .order_by(DeviceRow.id)
        ).all()
    devices = [device for device, _zone in rows]
    # A terminal's clock gives local times: in its own zone if the site file names one, else
    # in its site's (as for the PUSH terminals, ``push_terminal_config``).
    zones = {device.id: device.timezone or site_zone for device, site_zone in rows}
    if only is not None:
        unknown = sorted(set(only) - {device.id for device in devices})
        if unknown:
            log.warning("GATEWAY_FIELD_DEVICES names no device with a url: %s", ", ".join(unknown))
        devices = [device for device in devices if device.id in only]
    started = into if into is not None else FieldDevices()
    started.stopping.clear()  # started again after a stop: its readers report again
    for device in devices:
        opened = _open(device, clock, runtime, started, zones[device.id])
        if opened is None:
            continue
        if device.kind in _READER_KINDS:
            started.set_reader_state(device.id, "opening")
        if isinstance(opened, HostExclusive):
            started.add_terminal(device.id, opened)
        opened.start()
        started.running.append(opened)
        log.info("started %s %s on %s", device.kind, device.id, device.url)
    return started


_READER_KINDS = ("nfc_reader", "em4100_reader")


def reader_lock_path(url: str, lock_dir: Path) -> Path:
    """The peer lock file of the reader at ``url`` (``drivers.peer_lock``): named by the URL as
    the site file spells it, which every process of the host reads alike."""
    return lock_path(f"reader:{url}", lock_dir)


def _open(
    device: DeviceRow, clock: Clock, runtime: _Runtime, started: FieldDevices, timezone: str
) -> _Startable | None:
    url = str(device.url)
    on_scan = _scan_handoff(device, runtime)
    on_state = _state_handoff(device.id, clock, runtime, started)
    on_standby = _standby_handoff(device.id, started)
    on_reject = _reject_handoff(runtime)
    # One process of the host reads a reader and reports its losses; the others stand by.
    peer_lock = PeerLock(reader_lock_path(url, started.lock_dir))
    if device.kind == "nfc_reader":
        from drivers.nfc import NfcCheckpointReader

        return NfcCheckpointReader(
            url,
            device.id,
            clock=clock,
            on_scan=on_scan,
            on_state=on_state,
            on_standby=on_standby,
            peer_lock=peer_lock,
        )
    if device.kind == "em4100_reader":
        from drivers.em4100 import Em4100Reader

        return Em4100Reader(
            url,
            device.id,
            variant=device.variant or "rdm6300",
            clock=clock,
            on_scan=on_scan,
            on_state=on_state,
            on_standby=on_standby,
            peer_lock=peer_lock,
            on_reject=on_reject,
        )
    if device.kind == "clock_in" and url.startswith(("tcp://", "udp://")):
        # The binary protocol on 4370: the same session over a TCP stream or UDP datagrams.
        from drivers.zkteco.driver import ZkTcpClient
        from drivers.zkteco.udp import ZkUdpClient

        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 4370
        client_class = ZkUdpClient if parts.scheme == "udp" else ZkTcpClient
        client = client_class(
            host,
            port,
            terminal_id=device.id,
            clock=clock,
            on_punch=lambda punch: runtime.submit(DecodeOutcome(punches=(punch,))),
            timezone=timezone,
            on_reject=on_reject,
        )
        # One session per terminal from this host, whichever process holds the lock.
        return HostExclusive(
            client,
            # Named by the terminal, not the URL's spelling: tcp://h, tcp://h:4370 and
            # udp://h:4370 reach one terminal.
            lock_path(f"zkteco://{host}:{port}", started.lock_dir),
            name=f"clock-in terminal {device.id}",
        )
    log.warning("device %s (%s): no driver for url %s", device.id, device.kind, url)
    return None


def _state_handoff(
    device_id: str, clock: Clock, runtime: _Runtime, started: FieldDevices
) -> Callable[[bool, str], None]:
    """A reader losing or regaining its device becomes an alert (on the pipeline thread) and
    its state in ``started``; closing the readers at shutdown (``stopping`` set) is neither."""

    def report(connected: bool, reason: str) -> None:
        if started.stopping.is_set():
            return
        started.set_reader_state(device_id, "reading" if connected else "lost")
        log.log(
            logging.INFO if connected else logging.WARNING,
            "reader %s %s: %s",
            device_id,
            "connected" if connected else "lost its device",
            reason,
        )
        command = ReportReaderState(device_id, connected, reason, clock.now())
        try:
            runtime.call(command)
        except Exception:  # the reader thread must go on reopening whatever happens here
            log.exception("could not record the state of reader %s", device_id)

    return report


def _reject_handoff(runtime: _Runtime) -> Callable[[Rejected], None]:
    """Refused input goes to the pipeline thread, which counts it and logs it rate-limited;
    the device's thread goes straight back to reading."""
    return lambda rejected: runtime.submit(DecodeOutcome(rejects=(rejected,)))


def _standby_handoff(device_id: str, started: FieldDevices) -> Callable[[str], None]:
    """A reader standing by for another gateway process of the host is in state ``standby``.

    Nothing reaches the pipeline: the process that owns the reader (its peer lock) reports the
    reader's losses and returns, whether this process has ever read it or not. The driver logs
    why it stands by."""

    def report(reason: str) -> None:
        if not started.stopping.is_set():
            started.set_reader_state(device_id, "standby")

    return report


def _scan_handoff(device: DeviceRow, runtime: _Runtime) -> Callable[[CheckpointScan], None]:
    """Scans become checkpoint scans, or punches for a gate reader acting as a clock-in."""
    if not device.punch_kind:
        return lambda scan: runtime.submit(DecodeOutcome(scans=(scan,)))
    kind = PunchKind(device.punch_kind)

    def as_punch(scan: CheckpointScan) -> None:
        punch = Punch(
            terminal_id=scan.reader_id,
            person_id=scan.tag_id,
            punched_at=scan.scanned_at,
            received_at=scan.received_at,
            kind=kind,
            verify=VerifyMode.CARD,
            source_format=scan.source_format,
            raw=scan.raw,
        )
        runtime.submit(DecodeOutcome(punches=(punch,)))

    return as_punch


def terminal_ids_by_serial(engine: Engine) -> dict[str, str]:
    """Serial number → device id of every configured clock-in terminal."""
    with Session(engine) as session:
        rows = session.execute(
            select(DeviceRow.serial_number, DeviceRow.id).where(
                DeviceRow.serial_number.is_not(None)
            )
        )
        return {str(sn): str(device_id) for sn, device_id in rows}


def push_terminal_config(engine: Engine) -> Callable[[str], TerminalConfig | None]:
    """For the PUSH receiver: a terminal's settings (its clock's zone, the addresses it speaks
    from) by serial number, read from the configured devices; ``None`` for a terminal no site
    file names."""

    def config_for(serial: str) -> TerminalConfig | None:
        with Session(engine) as session:
            row = session.execute(
                select(DeviceRow.timezone, SiteRow.timezone, DeviceRow.addresses)
                .join(SiteRow, SiteRow.id == DeviceRow.site_id)
                .where(DeviceRow.serial_number == serial)
            ).first()
        if row is None:
            return None
        addresses = parse_networks(row[2].split()) if row[2] else ()
        return TerminalConfig(timezone=row[0] or row[1], addresses=addresses)

    return config_for


def punch_sink(engine: Engine, runtime: _Runtime) -> Callable[[list[Punch]], None]:
    """The PUSH receiver's sink: store and apply the punches on the pipeline thread, return
    only once committed (so ``OK`` is never sent for a record that could still be lost)."""

    def sink(punches: Sequence[Punch]) -> None:
        by_serial = terminal_ids_by_serial(engine)
        named = [
            dataclasses.replace(p, terminal_id=by_serial.get(p.terminal_id, p.terminal_id))
            for p in punches
        ]
        runtime.call(lambda session, processor: processor.store_punches(session, named))

    return sink
