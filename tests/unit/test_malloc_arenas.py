"""The malloc arena cap (``gateway.malloc_arenas``), measured in fresh interpreters: eight
threads each allocate once, and glibc's own report (``malloc_info``) counts the arenas."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gateway.malloc_arenas import MallocTrimmer, limit_malloc_arenas

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="malloc arenas are glibc's",
)

REPO_ROOT = Path(__file__).resolve().parents[2]

_EIGHT_THREADS = """
import ctypes, ctypes.util, os, sys, threading
from gateway.malloc_arenas import MallocTrimmer, limit_malloc_arenas
from tests.fixtures.malloc_heaps import thread_heaps
taken = limit_malloc_arenas() if sys.argv[1] == "capped" else None
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.fopen.restype, libc.fopen.argtypes = ctypes.c_void_p, (ctypes.c_char_p, ctypes.c_char_p)
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
together, done = threading.Barrier(9), threading.Event()
def first_allocation():
    together.wait()
    libc.malloc(1000)  # a thread's first malloc takes it an arena
    done.wait()
threads = [threading.Thread(target=first_allocation) for _ in range(8)]
for thread in threads:
    thread.start()
together.wait()
done.wait(0.3)
report = sys.argv[2].encode()
out = libc.fopen(report, b"w")
libc.malloc_info(0, out)
libc.fclose(out)
print(taken, open(report).read().count("<heap nr="), thread_heaps(os.getpid()))
done.set()
"""


def arenas_with_eight_threads(
    tmp_path: Path, how: str, env: dict[str, str] | None = None
) -> tuple[str, int, int]:
    """(what ``limit_malloc_arenas`` returned, arenas by ``malloc_info``, thread heaps by the
    process's mappings) in a fresh interpreter after eight threads allocated."""
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", _EIGHT_THREADS, how, str(tmp_path / "malloc.xml")],
        cwd=REPO_ROOT,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    return out[0], int(out[1]), int(out[2])


def test_eight_threads_take_arenas_of_their_own_without_the_cap(tmp_path: Path) -> None:
    taken, arenas, heaps = arenas_with_eight_threads(tmp_path, "uncapped")
    assert taken == "None"
    assert arenas > 2
    assert heaps == arenas - 1  # the mappings tell the arenas apart from the main one


def test_the_cap_keeps_eight_threads_to_two_arenas(tmp_path: Path) -> None:
    assert arenas_with_eight_threads(tmp_path, "capped") == ("True", 2, 1)


def test_an_operators_malloc_arena_max_stands(tmp_path: Path) -> None:
    taken, arenas, _heaps = arenas_with_eight_threads(tmp_path, "capped", {"MALLOC_ARENA_MAX": "4"})
    assert (taken, arenas) == ("False", 4)


def test_a_process_needs_an_arena() -> None:
    with pytest.raises(ValueError, match="at least one"):
        limit_malloc_arenas(0)


_FREED_BETWEEN_LIVE = """
import ctypes, ctypes.util, sys
from gateway.malloc_arenas import MallocTrimmer
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
def resident_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
blocks = [libc.malloc(8192) for _ in range(20_000)]  # 160 MB in the heap, not mmap'd
for block in blocks:
    ctypes.memset(block, 1, 8192)
for i, block in enumerate(blocks):
    if i % 16:  # every 16th stays: the freed space lies between live blocks
        libc.free(block)
held = resident_kb()
trimmer = MallocTrimmer()
trimmer.trim()
print(trimmer.available, trimmer.trims, held, resident_kb())
"""


def test_a_trim_gives_back_the_pages_freed_between_live_blocks() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _FREED_BETWEEN_LIVE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    available, trims, held_kb, after_kb = out[0], int(out[1]), int(out[2]), int(out[3])
    assert (available, trims) == ("True", 1)
    # 150 MB were freed between live blocks: malloc kept them resident until the trim.
    assert held_kb - after_kb > 100_000


def test_the_trimmer_trims_on_its_own_thread_until_stopped() -> None:
    trimmer = MallocTrimmer(every_s=0.01)
    trimmer.start()
    try:
        pause = threading.Event()
        for _ in range(500):  # its first trim, within five seconds at most
            if trimmer.trims:
                break
            pause.wait(0.01)
        assert trimmer.trims >= 1
        assert any(t.name == "malloc-trim" for t in threading.enumerate())
    finally:
        trimmer.stop()
    assert not any(t.name == "malloc-trim" for t in threading.enumerate())
