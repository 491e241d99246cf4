"""A started gateway gives its heap's freed pages back on a thread of its own, stopped with it
(``gateway.malloc_arenas``), as ``guard-gateway run`` starts it through ``build_gateway``."""

from __future__ import annotations

import platform
import threading

import pytest

from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.settings import Settings
from tests.e2e.helpers import DAY_START


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_a_started_gateway_trims_its_heap_on_its_own_thread_until_it_stops(db_url: str) -> None:
    gateway = build_gateway(
        Settings(database_url=db_url),
        ManualClock(DAY_START),
        with_ingest=False,
        with_field_devices=False,
    )
    assert gateway.trimmer.available
    assert not any(t.name == "malloc-trim" for t in threading.enumerate())
    gateway.start()
    try:
        assert any(t.name == "malloc-trim" and t.is_alive() for t in threading.enumerate())
    finally:
        gateway.stop()
    assert not any(t.name == "malloc-trim" for t in threading.enumerate())
