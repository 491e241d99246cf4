"""Offering a received message to its consumer until it is taken: ingest's back-pressure.

The consumer's ``handoff`` puts a message on a bounded queue; when the queue is full it raises
``queue.Full`` (after waiting a little), and :class:`HandoffLoop` offers the same message again,
and again, until it is taken or ``stopping`` is set. Meanwhile the thread offering it reads
nothing more from the broker (paho's network thread in ``MqttIngest``, the reader of the child's
output in ``IngestProcess``), so the broker's in-flight window fills and the broker queues the
rest. A message abandoned because ``stopping`` was set is not taken, so it is never acknowledged
and the broker delivers it again at the next start.

A handoff that raises anything else (a bug) is counted in ``dropped`` and logged; that message is
not taken either, so the broker delivers it again after the next reconnection.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from drivers.mqtt.ingest_types import MqttMessage

__all__ = ["BACKPRESSURE_LOG_EVERY_S", "BACKPRESSURE_RETRY_S", "HandoffLoop"]

logger = logging.getLogger(__name__)

BACKPRESSURE_RETRY_S = 0.05
"""Pause between two offers of a message the handoff refused as ``queue.Full``."""
BACKPRESSURE_LOG_EVERY_S = 60.0
"""At most one warning per this many seconds while the handoff keeps refusing (a measurement of
wall time for logging, not domain time)."""


class HandoffLoop:
    """Offers messages to ``handoff`` one at a time (see the module docstring).

    ``offer`` is called from one thread only, which alone writes the counters (``taken``,
    ``dropped``, ``waits``: since construction); other threads read them, slightly stale at
    worst. With ``warn_as`` (a client id) a warning that reading from the broker is paused is
    logged at most every ``BACKPRESSURE_LOG_EVERY_S`` while the handoff keeps refusing; without
    it the waits are only counted.
    """

    def __init__(
        self,
        handoff: Callable[[MqttMessage], None],
        stopping: threading.Event,
        *,
        warn_as: str | None = None,
    ) -> None:
        self._handoff = handoff
        self._stopping = stopping
        self._warn_as = warn_as
        self.taken = 0
        self.dropped = 0
        self.waits = 0
        self._warned_at = -BACKPRESSURE_LOG_EVERY_S

    def offer(self, message: MqttMessage) -> bool:
        """Offer ``message`` until it is taken (``True``) or the handoff fails on it (``True``,
        counted in ``dropped``); ``False`` when ``stopping`` was set while it waited for room."""
        while True:
            try:
                self._handoff(message)
            except queue.Full:
                self.waits += 1
                self._warn_paused()
                if self._stopping.wait(BACKPRESSURE_RETRY_S):
                    return False
            except Exception:
                self.dropped += 1
                logger.exception("MQTT handoff failed; message on %r not taken", message.topic)
                return True
            else:
                self.taken += 1
                return True

    def _warn_paused(self) -> None:
        if self._warn_as is None:
            return
        now = time.monotonic()
        if now - self._warned_at >= BACKPRESSURE_LOG_EVERY_S:
            self._warned_at = now
            logger.warning(
                "MQTT ingest %r: the pipeline's queue is full; reading from the broker paused "
                "(%d waits so far)",
                self._warn_as,
                self.waits,
            )
