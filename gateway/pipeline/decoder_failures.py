"""A codec that raises on an input: counted every time, logged at most once a minute per kind.

The codecs turn bad input into counted rejects (``gateway.pipeline.reject_log``); an exception
out of one is a bug, and a device that keeps sending what triggers it would otherwise print a
traceback and the whole input for every message, burying the log. The first failure of each
exception type is logged with its traceback and an excerpt of the input; later ones within
``interval`` of the injected clock are only counted, and the next line says how many.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from gateway.clock import Clock

__all__ = ["EXCERPT_CHARS", "DecoderFailures"]

EXCERPT_CHARS = 200
"""How much of the input's ``repr`` a line shows: enough to find the device and the shape."""


class DecoderFailures:
    """Logs the decoder's exceptions rate-limited (module docstring). Call it from the
    ``except`` block (it logs the exception being handled). Used by one thread."""

    def __init__(
        self, clock: Clock, logger: logging.Logger, interval: timedelta = timedelta(seconds=60)
    ) -> None:
        self._clock = clock
        self._log = logger
        self._interval = interval
        self._last: dict[str, tuple[datetime, int]] = {}

    def __call__(self, item: object, error: BaseException) -> None:
        """Log ``error``, raised decoding ``item``, or count it until its kind's next line."""
        now = self._clock.now()
        kind = type(error).__name__
        last = self._last.get(kind)
        if last is not None and now - last[0] < self._interval:
            self._last[kind] = (last[0], last[1] + 1)
            return
        left_out = 0 if last is None else last[1]
        self._last[kind] = (now, 0)
        shown = repr(item)
        excerpt = shown[:EXCERPT_CHARS] + ("..." if len(shown) > EXCERPT_CHARS else "")
        more = f" ({left_out} more {kind} not logged since)" if left_out else ""
        self._log.exception("decoder failed on %s%s", excerpt, more)
