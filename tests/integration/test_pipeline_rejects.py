"""Rejected inputs are all counted but logged at most once per device and problem a minute.

A terminal sending garbage must not flood the log: 340 bad messages used to give 340 lines (and
a huge payload a 300 KB one). The processor's clock is a manual one, so "a minute" is exact.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from drivers.gps.registry import codec_for
from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from gateway.pipeline.reject_log import EXCERPT_BYTES, MAX_REASON_CHARS, RejectLog
from gateway.records import DecodeOutcome, Rejected

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LOGGER = "gateway.pipeline.processor"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_340_bad_messages_from_one_device_give_one_line_and_340_counts(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(START)
    processor = Processor(engine, clock)
    codec = codec_for("json")
    caplog.set_level(logging.WARNING, logger=LOGGER)
    for n in range(340):
        outcome = codec.decode(b"{garbage " + str(n).encode(), clock.now(), "T-0042")
        processor.process_outcomes([outcome])
        clock.advance(0.1)  # 34 s in all: inside one interval
    assert processor.counters.get("rejected.not_json") == 340
    lines = _lines(caplog)
    assert len(lines) == 1
    assert lines[0].startswith("rejected input from T-0042: not JSON: ")


def test_after_the_interval_one_line_says_how_many_were_left_out(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(START)
    processor = Processor(engine, clock)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    bad = DecodeOutcome(rejects=(Rejected("checksum mismatch (frame says 7d)", b"\x7e", "D1"),))
    for _ in range(100):
        processor.process_outcomes([bad])
        clock.advance(1)  # 100 s: a second line after 60 s
    assert processor.counters.get("rejected.checksum_mismatch") == 100
    lines = _lines(caplog)
    assert len(lines) == 2
    assert "59 more like it" in lines[1]


def test_devices_and_problems_are_limited_apart(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(START)
    log = RejectLog(clock, logging.getLogger(LOGGER))
    caplog.set_level(logging.WARNING, logger=LOGGER)
    for _ in range(5):
        log(Rejected("not JSON: x", b"x", "A"), "not_json")
        log(Rejected("not JSON: x", b"x", "B"), "not_json")
        log(Rejected("empty payload", b"", "A"), "empty_payload")
    assert len(_lines(caplog)) == 3


def test_a_huge_reject_gives_a_short_line(caplog: pytest.LogCaptureFixture) -> None:
    log = RejectLog(ManualClock(START), logging.getLogger(LOGGER), timedelta(seconds=60))
    caplog.set_level(logging.WARNING, logger=LOGGER)
    log(
        Rejected("unknown alarm " + "x" * 300_000, b"\xff" * 300_000, "D" * 10_000), "unknown_alarm"
    )
    (line,) = _lines(caplog)
    assert len(line) < 64 + MAX_REASON_CHARS + 2 * EXCERPT_BYTES + 60
