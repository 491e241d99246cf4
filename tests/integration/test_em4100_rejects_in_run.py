"""Malformed frames of an EM4100 checkpoint reader as ``guard-gateway run`` wires it.

A reader with a worn cable or a motor nearby sends garbage, cut frames and bad checksums. The
device contract holds for every input: it is dropped, *counted* (``rejected.<problem>``, which
``/health`` and ``guard_gateway_rejected_total`` show) and *logged rate-limited* (once per device
and problem per minute, ``gateway.pipeline.reject_log``), while the stream goes on. The gateway
starts its readers in ``gateway.field_devices._open``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from fwsim.scenario.field import FieldRunner
from gateway.lifecycle import Gateway
from tests.integration.test_field_devices import (  # noqa: F401 - the fixture is used by name
    CARD,
    gateway_with_reader,
    reader_of,
    wait_until,
)

BAD_FRAMES = 30


def test_malformed_reader_frames_are_counted_as_rejects_of_the_gateway(
    gateway_with_reader: Callable[[str | None], tuple[Gateway, FieldRunner]],  # noqa: F811
) -> None:
    gateway, runner = gateway_with_reader("check_in")
    counters = gateway.processor.counters
    reader = reader_of(gateway)
    assert wait_until(lambda: reader.stats.connected)
    sim = runner.em4100("em-1")
    sim.noise(b"\xff\x00\x13line noise\x7f")
    sim.bad_checksum(CARD)
    sim.send(CARD)  # the stream goes on: this card is read
    assert wait_until(lambda: counters.get("punches.stored") == 1)
    assert reader.stats.rejects_total >= 2  # the driver saw and dropped both
    assert gateway.runtime.wait_idle()
    rejected = {k: v for k, v in counters.snapshot().items() if k.startswith("rejected.")}
    # Every frame the driver dropped is counted by the gateway, once.
    assert sum(rejected.values()) == reader.stats.rejects_total, counters.snapshot()


def test_a_reader_sending_bad_frames_is_logged_rate_limited_not_once_per_frame(
    gateway_with_reader: Callable[[str | None], tuple[Gateway, FieldRunner]],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway, runner = gateway_with_reader(None)
    reader = reader_of(gateway)
    assert wait_until(lambda: reader.stats.connected)
    sim = runner.em4100("em-1")
    with caplog.at_level(logging.WARNING):
        for _ in range(BAD_FRAMES):
            sim.bad_checksum(CARD)
        assert wait_until(lambda: reader.stats.rejects.get("checksum", 0) == BAD_FRAMES)
        assert gateway.runtime.wait_idle()
    lines = [
        r for r in caplog.records if r.levelno >= logging.WARNING and "checksum" in r.getMessage()
    ]
    # One line at once; the next only after a minute of the gateway's clock, which has not moved.
    assert len(lines) == 1, f"{len(lines)} warning lines for {BAD_FRAMES} bad frames in a second"
