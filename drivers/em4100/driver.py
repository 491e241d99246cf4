"""An EM4100 checkpoint reader on a serial URL: transport → framer → debounce → ``CheckpointScan``.

``Em4100Reader`` opens ``url`` with the serial transport (reopening with back-off when the
device goes away), cuts the configured output variant into tag reads, debounces repeats (one
scan per presentation, on the injected clock) and calls ``on_scan`` with a ``CheckpointScan``:
``technology`` ``EM4100`` (``rdm6300``, ``decimal``) or ``WIEGAND``, ``source_format`` = the
variant, ``raw`` = the frame's bytes in lower-case hex. ``scanned_at`` and ``received_at`` are
both the clock's time at decoding (these readers have no clock of their own).

Bad input is counted by reason and never stops the reader. Without ``on_reject`` each refused
frame is logged as hex (WARNING); with it, the frame goes to ``on_reject`` as a ``Rejected``
record and is logged here at DEBUG only: the receiver counts it and logs it rate-limited
(``guard-gateway run`` hands it to the pipeline, ``gateway.pipeline.reject_log``), as a reader
with a worn cable sends hundreds a minute. Callbacks run on the reader's thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Self

from drivers.em4100.codec import FrameRejected, TagRead, Variant, make_framer
from drivers.em4100.debounce import Debouncer
from drivers.peer_lock import PeerLock
from drivers.serial.transport import SerialConfig, SerialReader, StandbyCallback, StateCallback
from gateway.clock import Clock
from gateway.records import CheckpointScan, Rejected

__all__ = ["Em4100Reader", "Em4100Stats"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Em4100Stats:
    """A snapshot of one reader's counters.

    ``frames`` valid frames decoded (repeats included), ``scans`` scans emitted after debounce,
    ``rejects`` refused input by reason, ``reopens`` successful reopens after a loss,
    ``disconnects`` losses of the open port, ``open_failures`` failed open attempts.
    """

    connected: bool
    frames: int
    scans: int
    rejects: MappingProxyType[str, int] = field(default_factory=lambda: MappingProxyType({}))
    reopens: int = 0
    disconnects: int = 0
    open_failures: int = 0

    @property
    def rejects_total(self) -> int:
        return sum(self.rejects.values())


class Em4100Reader:
    """One EM4100 reader (see the module docstring). ``start()``/``stop()`` or ``with``."""

    def __init__(
        self,
        url: str,
        reader_id: str,
        *,
        variant: Variant | str = Variant.RDM6300,
        clock: Clock,
        on_scan: Callable[[CheckpointScan], None],
        debounce_s: float = 2.0,
        baudrate: int = 9600,
        on_state: StateCallback | None = None,
        on_standby: StandbyCallback | None = None,
        peer_lock: PeerLock | None = None,
        on_reject: Callable[[Rejected], None] | None = None,
        read_timeout_s: float = 0.05,
        reopen_initial_s: float = 0.1,
        reopen_max_s: float = 5.0,
    ) -> None:
        self._reader_id = reader_id
        self._framer = make_framer(variant)
        self._clock = clock
        self._on_scan = on_scan
        self._on_state = on_state
        self._on_reject = on_reject
        self._debouncer = Debouncer(debounce_s)
        self._lock = threading.Lock()
        self._frames = 0
        self._scans = 0
        self._rejects: dict[str, int] = {}
        config = SerialConfig(
            url=url,
            baudrate=baudrate,
            read_timeout_s=read_timeout_s,
            reopen_initial_s=reopen_initial_s,
            reopen_max_s=reopen_max_s,
        )
        self._transport = SerialReader(
            config,
            self._on_bytes,
            on_state=self._state_changed,
            on_standby=on_standby,
            peer_lock=peer_lock,
            name=f"em4100:{reader_id}",
        )

    @property
    def reader_id(self) -> str:
        return self._reader_id

    @property
    def variant(self) -> Variant:
        return self._framer.variant

    @property
    def stats(self) -> Em4100Stats:
        transport = self._transport.stats
        with self._lock:
            return Em4100Stats(
                connected=transport.connected,
                frames=self._frames,
                scans=self._scans,
                rejects=MappingProxyType(dict(self._rejects)),
                reopens=transport.reopens,
                disconnects=transport.disconnects,
                open_failures=transport.open_failures,
            )

    def start(self) -> None:
        self._transport.start()

    def stop(self) -> None:
        self._transport.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _state_changed(self, connected: bool, reason: str) -> None:
        if not connected:
            # A frame half-read before the loss must not be joined to bytes after the reopen.
            self._handle(self._framer.flush())
        if self._on_state is not None:
            self._on_state(connected, reason)

    def _on_bytes(self, data: bytes) -> None:
        self._handle(self._framer.feed(data))

    def _handle(self, outputs: list[TagRead | FrameRejected]) -> None:
        for item in outputs:
            if isinstance(item, FrameRejected):
                self._rejected(item)
            else:
                self._read(item)

    def _rejected(self, item: FrameRejected) -> None:
        with self._lock:
            self._rejects[item.reason.value] = self._rejects.get(item.reason.value, 0) + 1
        log.log(
            logging.WARNING if self._on_reject is None else logging.DEBUG,
            "reader %s: rejected %s (%s): %s",
            self._reader_id,
            item.reason.value,
            item.detail,
            item.raw.hex(),
        )
        if self._on_reject is not None:
            reason = f"{item.reason.value}: {item.detail}" if item.detail else item.reason.value
            self._on_reject(Rejected(reason=reason, raw=item.raw, device_id=self._reader_id))

    def _read(self, item: TagRead) -> None:
        now = self._clock.now()
        with self._lock:
            self._frames += 1
        if not self._debouncer.accept(item.tag_id, now):
            return
        with self._lock:
            self._scans += 1
        scan = CheckpointScan(
            reader_id=self._reader_id,
            tag_id=item.tag_id,
            scanned_at=now,
            received_at=now,
            technology=item.technology,
            source_format=item.variant.value,
            raw=item.raw.hex(),
        )
        log.info("reader %s: scan %s", self._reader_id, item.tag_id)
        self._on_scan(scan)
