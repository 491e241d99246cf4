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

The roster: a ``roster-reader`` thread reads it again every ``roster_refresh_s`` seconds (new
shift instances, sites loaded by another process, the window moving on), and at once after a
site load, which it checks for every ``roster_check_s`` seconds; the owner thread
adopts each read between two batches (``gateway.pipeline.roster_refresh``), so reading a city's
roster slows the pipeline for a few seconds instead of stopping it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from gateway.clock import Clock
from gateway.db.quarantine import Quarantined, reason_key_of, store_quarantined
from gateway.pipeline.batch_budget import DEFAULT_BATCH_BUDGET_S, BatchSizer
from gateway.pipeline.decoder_failures import DecoderFailures
from gateway.pipeline.housekeeping import MAX_OUTAGE_BACKOFF_S, Housekeeping, database_outage
from gateway.pipeline.processor import Processor
from gateway.pipeline.reasons import describe_error
from gateway.pipeline.roster_refresh import RosterReader
from gateway.records import DecodeOutcome, Downlink

__all__ = ["PipelineRuntime"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Decode = Callable[[T], DecodeOutcome | None]
Command = Callable[[Session, Processor], Any]

RETRIES_BEFORE_SPLIT = 3
"""Attempts at a failing batch before it is split to find the input that fails alone."""

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
    docstring). Neither may block for long; what they raise is logged. ``on_batch_timed`` gets
    each batch's count of raw inputs and the wall seconds it took (for the metrics).

    A batch takes at most ``max_batch`` inputs, fewer when the work per input would make it
    last longer than ``batch_budget_s`` (``gateway.pipeline.batch_budget``): deadlines fire
    between batches, so that is the longest one waits behind a batch.
    """

    def __init__(
        self,
        processor: Processor,
        clock: Clock,
        decode: Decode[T],
        *,
        max_batch: int = 5000,
        batch_budget_s: float = DEFAULT_BATCH_BUDGET_S,
        max_queue: int = DEFAULT_MAX_QUEUE,
        tick_interval_s: float = 0.1,
        roster_refresh_s: float = 300.0,
        roster_check_s: float = 5.0,
        on_replies: Callable[[Sequence[Downlink]], None] | None = None,
        on_settled: Callable[[Sequence[T]], None] | None = None,
        on_batch_timed: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, not {max_queue}")
        self.processor = processor
        self._on_replies = on_replies
        self._on_settled = on_settled
        self._on_batch_timed = on_batch_timed
        self._clock = clock
        self._decode = decode
        self._decoder_failures = DecoderFailures(clock, log)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Raw inputs in the queue, counted under a plain lock: one acquire per submit and one
        # per drained batch (a Semaphore costs a Condition round per input, on paho's thread).
        self._max_queue = max_queue
        self._queued = 0
        self._queued_lock = threading.Lock()
        self._room = threading.Condition(self._queued_lock)
        self._batch_sizer = BatchSizer(max_batch, batch_budget_s)
        self._tick_interval_s = tick_interval_s
        self._stop = threading.Event()
        self._housekeeping = Housekeeping(processor.counters)
        self._thread: threading.Thread | None = None
        self._roster = RosterReader(
            processor.read_roster, roster_refresh_s, processor.counters, roster_check_s
        )

    # --- called from other threads ----------------------------------------------------------

    def submit(self, item: T, timeout_s: float | None = None) -> None:
        """Hand one raw input to the pipeline. Safe from any thread.

        Returns at once while the queue has room; else waits for room, at most ``timeout_s``
        seconds (``None``: as long as it takes), then raises ``queue.Full``.
        """
        with self._queued_lock:
            if self._queued >= self._max_queue and not self._room.wait_for(
                self._has_room, timeout_s
            ):
                raise queue.Full(f"the pipeline queue is full ({self.backlog()} waiting)")
            self._queued += 1
            self._queue.put(item)

    def _has_room(self) -> bool:
        return self._queued < self._max_queue

    def call(self, command: Command, timeout_s: float = 30.0) -> Any:
        """Run ``command(session, processor)`` on the owner thread in one transaction."""
        request = _Call(command)
        self._queue.put(request)
        return request.future.result(timeout=timeout_s)

    def backlog(self) -> int:
        """Inputs waiting in the queue."""
        return self._queue.qsize()

    def alive(self) -> bool:
        """Whether the owner thread runs (started and not ended)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Start the owner thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._thread.start()
        self._roster.start(self._stop)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Process what is queued, then stop the owner thread."""
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self._roster.join(timeout_s)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until everything submitted so far has been processed (for tests and benches)."""
        return bool(self.call(lambda _s, _p: True, timeout_s))

    # --- the owner thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._drain()
            items = [i for i in batch if i is not None and not isinstance(i, _Call)]
            calls = [i for i in batch if isinstance(i, _Call)]
            if items:
                # Settled: the inputs whose fate is final (stored, quarantined or dropped for
                # good); an input left unstored by a stop during an outage is not.
                started = time.perf_counter()
                settled = self._process(items)
                took = time.perf_counter() - started
                self._batch_sizer.observe(len(items), took)
                if self._on_batch_timed is not None:
                    self._on_batch_timed(len(items), took)
                self._settle(settled)
            for request in calls:
                self._run_call(request)
            read = self._roster.take()
            if read is not None:
                self._guarded(partial(self.processor.adopt_roster, read))
            self._guarded(self.processor.tick)
            if self._stop.is_set() and self._queue.empty():
                return

    def _drain(self) -> list[Any]:
        """Up to the sizer's count of inputs: waits at most one tick interval for the first."""
        try:
            first = self._queue.get(timeout=self._tick_interval_s)
        except queue.Empty:
            return []
        batch = [first]
        limit = self._batch_sizer.next_size()
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        taken = sum(1 for item in batch if item is not None and not isinstance(item, _Call))
        if taken:
            with self._queued_lock:
                self._queued -= taken
                self._room.notify_all()
        return batch

    def _process(self, items: list[T]) -> list[T]:
        """Store a batch, retried from scratch while it fails (the processor takes memory back
        with each failed transaction).

        While the database is unreachable or refuses to write (connection lost, disk full:
        ``database_outage``), the batch waits and is retried with back-off until it goes
        through or the runtime stops; each failed attempt counts ``errors.database_unavailable``.
        Any other failure is taken to come from the input: after ``RETRIES_BEFORE_SPLIT``
        attempts the batch is halved until the input that fails alone is found, which is
        quarantined with its reason (``gateway.db.quarantine``) while the rest is stored.

        Returns the inputs whose fate is final, in order: stored, quarantined, or dropped for
        good; not those left unstored because the runtime stopped during an outage.
        """
        outcomes = self._outcomes
        decoded = [(item, outcomes((item,))) for item in items]
        return self._store(decoded, retries=RETRIES_BEFORE_SPLIT)

    def _store(self, decoded: list[tuple[T, list[DecodeOutcome]]], *, retries: int) -> list[T]:
        """Store ``decoded`` (see ``_process``); returns the inputs settled."""
        outcomes = [outcome for _item, item_outcomes in decoded for outcome in item_outcomes]
        failures = 0
        error: Exception | None = None
        while True:
            try:
                self.processor.process_outcomes(outcomes)
            except Exception as exc:
                error = exc
                if database_outage(exc):
                    self.processor.counters.add("errors.database_unavailable")
                    if not self._wait_for_database(len(decoded), failures, exc):
                        return []
                    failures += 1
                    continue
                failures += 1
                if failures < retries:
                    log.warning(
                        "batch of %d failed (attempt %d): %s",
                        len(decoded),
                        failures,
                        describe_error(exc),
                    )
                    time.sleep(min(2.0, 0.2 * 2**failures))
                    continue
                break
            else:
                self._send_replies(outcomes)
                return [item for item, _outcomes in decoded]
        if len(decoded) == 1 and error is not None:
            item = decoded[0][0]
            return [item] if self._quarantine(item, error) else []
        # Halves, in order: a poisoned input is found in log2(n) transactions per poison.
        middle = len(decoded) // 2
        return [
            item
            for part in (decoded[:middle], decoded[middle:])
            for item in self._store(part, retries=1)
        ]

    def _wait_for_database(self, count: int, failures: int, exc: BaseException) -> bool:
        """Back off before the next attempt; False when stopping (the batch is not stored:
        its inputs were not acknowledged, so a broker delivers them again)."""
        if self._stop.is_set():
            log.error("stopping with %d inputs not stored: the database is unavailable", count)
            self.processor.counters.add("errors.unstored_at_stop", count)
            return False
        if failures == 0 or failures % 10 == 0:
            log.error(
                "database unavailable, batch of %d waiting (attempt %d): %s",
                count,
                failures + 1,
                describe_error(exc),
            )
        self._stop.wait(min(MAX_OUTAGE_BACKOFF_S, 0.1 * 2**failures))
        return True

    def _quarantine(self, item: T, exc: BaseException) -> bool:
        """Keep an input that fails alone, with its reason; counted ``quarantined.<key>``.
        False only when the runtime stopped while the database was unavailable (the input is
        then neither kept nor dropped: a broker delivers it again)."""
        entry = Quarantined.of(item, self._clock.now())
        key = reason_key_of(exc)
        failures = 0
        while True:
            try:
                with Session(self.processor.engine) as session, session.begin():
                    store_quarantined(session, entry, exc, self._clock.now())
            except Exception as write_exc:
                if database_outage(write_exc):
                    if not self._wait_for_database(1, failures, write_exc):
                        return False
                    failures += 1
                    continue
                self.processor.counters.add("errors.poison_input")
                log.exception("input dropped: it failed alone and cannot be quarantined")
                return True
            break
        self.processor.counters.add(f"quarantined.{key}")
        log.error(
            "input from %s quarantined (%s): %s",
            entry.topic or entry.device_id or entry.source,
            key,
            describe_error(exc),
        )
        return True

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
        if self._on_settled is None or not items:
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
            except Exception as exc:  # a codec bug must not stop the stream
                self.processor.counters.add("errors.decoder")
                self._decoder_failures(item, exc)
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

    def _guarded(self, action: Callable[[], object]) -> None:
        """Run a housekeeping ``action`` (a tick, a reload); a failure is logged and retried
        with back-off (``gateway.pipeline.housekeeping``)."""
        self._housekeeping.run(action)
