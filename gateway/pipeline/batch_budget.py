"""How many inputs the pipeline thread takes in one batch: as many as fit a time budget.

The thread fires due deadlines between batches, so a deadline can wait for the batch in front
of it. With a fixed bound of 5,000 inputs a batch took about 1.3 s at 100,000 guards on duty
(about 250 us a fix), and absence alerts of ``bench --scenario steady`` came up to 2 s late
while the pipeline was behind. ``BatchSizer`` keeps a running estimate of the work per input
(the wall seconds of the batches just processed) and sizes the next batch to fit
``budget_s``: large batches while fixes are cheap, smaller ones when they are not, and never
fewer than ``min_batch`` so a slow stretch (a database outage's retries count in the time)
does not shrink batches to a few inputs.
"""

from __future__ import annotations

__all__ = ["DEFAULT_BATCH_BUDGET_S", "MIN_BATCH", "BatchSizer"]

DEFAULT_BATCH_BUDGET_S = 0.25
"""Wall seconds of work one batch should take: the longest a due deadline waits behind one."""

MIN_BATCH = 100
"""The smallest batch the sizer asks for: per-batch costs (the commit, the tick) stay small."""

_WEIGHT = 0.5
"""Weight of the newest batch in the running estimate: it follows a change within a few
batches."""


class BatchSizer:
    """The size of the next batch (see the module docstring). Used by one thread only."""

    def __init__(
        self, max_batch: int, budget_s: float = DEFAULT_BATCH_BUDGET_S, min_batch: int = MIN_BATCH
    ) -> None:
        if max_batch < 1 or min_batch < 1 or budget_s <= 0:
            raise ValueError("need max_batch >= 1, min_batch >= 1 and budget_s > 0")
        self._max = max_batch
        self._min = min(min_batch, max_batch)
        self._budget_s = budget_s
        self.seconds_per_input: float | None = None
        """The running estimate; ``None`` before the first batch."""

    def next_size(self) -> int:
        """How many inputs to take now: ``max_batch`` until a batch was measured."""
        per = self.seconds_per_input
        if per is None or per <= 0:
            return self._max
        return max(self._min, min(self._max, int(self._budget_s / per)))

    def observe(self, inputs: int, seconds: float) -> None:
        """A batch of ``inputs`` took ``seconds`` of wall time."""
        if inputs < 1:
            return
        per = max(0.0, seconds) / inputs
        old = self.seconds_per_input
        self.seconds_per_input = per if old is None else _WEIGHT * per + (1 - _WEIGHT) * old
