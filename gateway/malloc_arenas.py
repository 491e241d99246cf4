"""How many malloc arenas a gateway process may use (glibc).

glibc gives each thread an arena of its own when it first allocates, up to eight per core,
and memory freed in one arena serves only that arena. A gateway's threads (pipeline,
MQTT client, roster reader, delivery, API) take turns under the interpreter's lock, so they
rarely contend for malloc; the extra arenas only strand memory. Measured with
``bench --scenario steady`` at 100,000 guards for 60 s, three runs each, alternated: peak
resident memory 858-943 MB (mean 908) with glibc's default, 822-841 MB (mean 834) with two
arenas, with as many fixes stored and alerts as punctual (lateness p99 0.40-0.41 s against
0.44-0.71 s).

``limit_malloc_arenas`` caps them through ``mallopt(M_ARENA_MAX)``. glibc reads the cap when
a thread next needs an arena, so it holds for every thread that starts afterwards, and for
those already running once they would take a new one. ``MALLOC_ARENA_MAX`` in the
environment wins (glibc applied it at start-up); on a C library without ``mallopt`` (musl,
macOS) nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

__all__ = ["GATEWAY_MALLOC_ARENAS", "limit_malloc_arenas"]

log = logging.getLogger(__name__)

GATEWAY_MALLOC_ARENAS = 2
"""The main arena and one for every other thread (see the module docstring)."""

_M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter number for the arena cap (``malloc.h``)."""


def limit_malloc_arenas(arenas: int = GATEWAY_MALLOC_ARENAS) -> bool:
    """Cap this process's malloc arenas at ``arenas``; True if the C library took the cap.

    False, doing nothing, when ``MALLOC_ARENA_MAX`` is set (the operator's choice stands) or
    the C library has no ``mallopt`` or refuses the value."""
    if arenas < 1:
        raise ValueError("a process needs at least one malloc arena")
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    taken = bool(mallopt(_M_ARENA_MAX, arenas))
    if not taken:
        log.debug("the C library refused a cap of %d malloc arenas", arenas)
    return taken
