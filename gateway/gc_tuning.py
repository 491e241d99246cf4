"""The cyclic garbage collector's thresholds for a gateway process.

A gateway holds one presence state per guard on duty (frozen records with their tuples), and
every fix replaces its guard's state: at 100,000 guards that is over a million tracked objects,
and a steady stream of young ones surviving long enough to be promoted. With CPython's default
thresholds ``(700, 10, 10)`` the oldest generation was collected 94 times in a four-minute run
of ``bench --scenario steady`` at 100,000 guards, 0.6 s each: 55 s with every thread stopped,
which showed as publish -> stored latency (p99 21 s) and alert lateness (p99 1.4 s).

With ``(10_000, 10, 100)`` the same run collected the oldest generation twice (2.4 s), stored
35% more fixes per second, and gave a latency p99 of 4.6 s and an alert lateness p99 of 0.33 s,
for 2% more memory (985 against 965 MB). The gateway's garbage is almost all freed by reference
counting (immutable records replaced, never cycles), so collecting cycles less often costs
little memory.

What remained were the two full collections themselves, about 1.2 s each at 100,000 guards:
the roster, the fences and the states read at start-up are most of the heap, and the collector
walked them every time. ``freeze_startup_heap`` (``Gateway.start``) moves what is alive once the
gateway is built out of the collector's sight (``gc.freeze``); the full collections then walk
what came since (measured: 0.13 s each instead of 1.2 s). ``release_startup_heap``
(``Gateway.stop``) gives it back, so cycles among the start-up objects that died meanwhile (an
old roster's ORM rows) are collected then; until then they are at most one start-up's worth.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = [
    "GATEWAY_GC_THRESHOLDS",
    "collector_as_a_gateway",
    "freeze_startup_heap",
    "release_startup_heap",
    "tune_collector",
]

GATEWAY_GC_THRESHOLDS = (10_000, 10, 100)
"""Allocations before a young collection; young collections before a middle one; middle ones
before a full one (CPython's full collection also waits for a quarter more long-lived objects)."""


def tune_collector() -> None:
    """Set ``GATEWAY_GC_THRESHOLDS`` for this process (idempotent)."""
    gc.set_threshold(*GATEWAY_GC_THRESHOLDS)


def freeze_startup_heap() -> None:
    """Collect once, then keep every object alive now out of later collections."""
    gc.collect()
    gc.freeze()


def release_startup_heap() -> None:
    """Put the frozen objects back under the collector (the gateway stops)."""
    gc.unfreeze()


@contextmanager
def collector_as_a_gateway() -> Iterator[Callable[[], None]]:
    """Within: this process's collector as ``guard-gateway run`` sets it (``tune_collector``),
    and a callable that freezes the heap alive then, as ``Gateway.start`` does once the
    gateway is built (``freeze_startup_heap``); both undone on exit. For the benchmarks that
    drive the pipeline without building a gateway: with CPython's default thresholds they
    measured the collector's walks of the roster and states, which a gateway does not make
    (a fix through ``Processor`` cost about 205 µs at 1,000 guards, 135 µs tuned)."""
    before = gc.get_threshold()
    tune_collector()
    try:
        yield freeze_startup_heap
    finally:
        release_startup_heap()
        gc.set_threshold(*before)
