"""The pipeline's owner thread: drains the inbound queue in batches, ticks the rules' clock.

Transports hand raw inputs over with ``submit`` (thread-safe); the API runs commands on the owner
thread with ``call``. Batching amortises the commit: one transaction per batch, never one per
message. Replies owed to devices (a JT/T 808 general reply says "stored") go to ``on_replies``
only once the batch holding them is committed.

Settling: every raw input goes to ``on_settled`` once its fate is final, in the order it was
submitted: after the transaction holding its records committed, or once it was dropped for good
(not for us, decoded to nothing, a decoder failure, poison after repeated failures). A batch whose
transaction failed and will be retried settles nothing. MQTT ingest acknowledges messages there,
so the broker keeps each message until it is stored.

Bounded memory: at most ``max_queue`` raw inputs wait in the queue (plus the batch being
processed). ``submit`` blocks while the queue is full, up to its ``timeout_s``, then raises
``queue.Full``: that is back-pressure on the caller's thread. MQTT ingest offers the message again
and meanwhile reads nothing from the broker, whose in-flight window then holds the rest; a serial
reader or a terminal's HTTP request waits. Commands (``call``) and the stop signal do not count
against the bound and never wait for room.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from gateway.clock import Clock
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome, Downlink

__all__ = ["PipelineRuntime"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Decode = Callable[[T], DecodeOutcome | None]
Command = Callable[[Session, Processor], Any]

RETRIES_BEFORE_SPLIT = 3
DEFAULT_MAX_QUEUE = 20_000
"""Raw inputs waiting at most (about 10 MB of MQTT messages): well above the broker's in-flight
window the docs ask for (1000), so a broker that keeps to its window never fills it; one that
overshoots it (mosquitto 2.0.11) meets the back-pressure instead."""


class _Call:
    __slots__ = ("command", "future")

    def __init__(self, command: Command) -> None:
        self.command = command
        self.future: Future[Any] = Future()


class PipelineRuntime(Generic[T]):
    """Runs a ``Processor`` on its own thread, fed by a queue of raw inputs of type ``T``.

    ``decode`` turns one raw input (an MQTT message, a serial frame...) into a ``DecodeOutcome``
    or ``None`` when the input is not for us. Deadlines are checked every ``tick_interval_s`` of
    wall time, so a demo on an accelerated clock still fires them promptly. ``on_replies`` is
    called on the owner thread with the replies of each committed batch (never for an input
    that was dropped); ``on_settled`` with the inputs whose fate became final (see the module
    docstring). Neither may block for long; what they raise is logged.
    """

    def __init__(
        self,
        processor: Processor,
        clock: Clock,
        decode: Decode[T],
        *,
        max_batch: int = 5000,
        max_queue: int = DEFAULT_MAX_QUEUE,
        tick_interval_s: float = 0.1,
        roster_refresh_s: float = 300.0,
        on_replies: Callable[[Sequence[Downlink]], None] | None = None,
        on_settled: Callable[[Sequence[T]], None] | None = None,
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, not {max_queue}")
        self.processor = processor
        self._on_replies = on_replies
        self._on_settled = on_settled
        self._clock = clock
        self._decode = decode
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # One slot per raw input in the queue, released when the owner thread takes it.
        self._room = threading.Semaphore(max_queue)
        self._max_batch = max_batch
        self._tick_interval_s = tick_interval_s
        self._roster_refresh_s = roster_refresh_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- called from other threads ----------------------------------------------------------

    def submit(self, item: T, timeout_s: float | None = None) -> None:
        """Hand one raw input to the pipeline. Safe from any thread.

        Returns at once while the queue has room; else waits for room, at most ``timeout_s``
        seconds (``None``: as long as it takes), then raises ``queue.Full``.
        """
        if not self._room.acquire(timeout=timeout_s):
            raise queue.Full(f"the pipeline queue is full ({self.backlog()} waiting)")
        self._queue.put(item)

    def call(self, command: Command, timeout_s: float = 30.0) -> Any:
        """Run ``command(session, processor)`` on the owner thread in one transaction."""
        request = _Call(command)
        self._queue.put(request)
        return request.future.result(timeout=timeout_s)

    def backlog(self) -> int:
        """Inputs waiting in the queue."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the owner thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Process what is queued, then stop the owner thread."""
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until everything submitted so far has been processed (for tests and benches)."""
        return bool(self.call(lambda _s, _p: True, timeout_s))

    # --- the owner thread -------------------------------------------------------------------

    def _run(self) -> None:
        last_refresh = time.monotonic()
        while True:
            batch = self._drain()
            items = [i for i in batch if i is not None and not isinstance(i, _Call)]
            calls = [i for i in batch if isinstance(i, _Call)]
            if items:
                # _process returns once every item's fate is final (committed or dropped).
                self._process(items)
                self._settle(items)
            for request in calls:
                self._run_call(request)
            if time.monotonic() - last_refresh > self._roster_refresh_s:
                last_refresh = time.monotonic()
                self._guarded(self.processor.reload)
            self._guarded(self.processor.tick)
            if self._stop.is_set() and self._queue.empty():
                return

    def _drain(self) -> list[Any]:
        """Up to ``max_batch`` inputs: waits at most one tick interval for the first."""
        try:
            first = self._queue.get(timeout=self._tick_interval_s)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for item in batch:
            if item is not None and not isinstance(item, _Call):
                self._room.release()
        return batch

    def _process(self, items: list[T]) -> None:
        for attempt in range(RETRIES_BEFORE_SPLIT):
            try:
                outcomes = self._outcomes(items)
                self.processor.process_outcomes(outcomes)
            except Exception:
                log.warning("batch of %d failed (attempt %d)", len(items), attempt + 1)
                time.sleep(min(2.0, 0.2 * 2**attempt))
            else:
                self._send_replies(outcomes)
                return
        # The batch keeps failing: take the inputs one at a time so one poisoned input is
        # isolated (logged, counted) and the rest still get through.
        for item in items:
            try:
                outcomes = self._outcomes([item])
                self.processor.process_outcomes(outcomes)
            except Exception:
                self.processor.counters.add("errors.poison_input")
                log.exception("input dropped after repeated failures: %r", item)
            else:
                self._send_replies(outcomes)

    def _send_replies(self, outcomes: list[DecodeOutcome]) -> None:
        """The replies of a committed batch, to ``on_replies``; a failure there is logged (the
        records are stored; an unanswered device resends)."""
        replies = [reply for outcome in outcomes for reply in outcome.replies]
        if not replies or self._on_replies is None:
            return
        try:
            self._on_replies(replies)
        except Exception:
            log.exception("%d replies to devices not sent", len(replies))

    def _settle(self, items: list[T]) -> None:
        """Hand inputs whose fate is final to ``on_settled``; a failure there is logged (an MQTT
        message not acknowledged is redelivered and absorbed as a duplicate)."""
        if self._on_settled is None:
            return
        try:
            self._on_settled(items)
        except Exception:
            log.exception("%d settled inputs not acknowledged", len(items))

    def _outcomes(self, items: Iterable[T]) -> list[DecodeOutcome]:
        outcomes = []
        for item in items:
            try:
                outcome = self._decode(item)
            except Exception:  # a codec bug must not stop the stream
                self.processor.counters.add("errors.decoder")
                log.exception("decoder failed on %r", item)
                continue
            if outcome is None:
                self.processor.counters.add("ignored.not_for_us")
            else:
                records = outcome.fixes or outcome.scans or outcome.punches or outcome.alarms
                if not (records or outcome.rejects):
                    # No record and no complaint (a terminal's login frame, an empty
                    # payload): counted, so every input is accounted for.
                    self.processor.counters.add("ignored.no_record")
                outcomes.append(outcome)
        return outcomes

    def _run_call(self, request: _Call) -> None:
        try:
            request.future.set_result(self.processor.run_command(request.command))
        except Exception as exc:
            request.future.set_exception(exc)

    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            log.exception("pipeline housekeeping failed; retrying at the next tick")
