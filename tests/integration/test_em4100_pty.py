"""The EM4100 driver reading the simulated reader over real pseudo-terminals."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drivers.em4100 import Em4100Reader
from fwsim.em4100 import SimulatedEm4100Reader
from fwsim.pty import PtyPair
from gateway.clock import ManualClock
from gateway.records import CheckpointScan, TagTechnology

T0 = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
# Published ids (tests/corpus/em4100): the RDM630 data sheet's example, python-rdm6300's card,
# and i-keys.de's EM4102 with its 10-digit (0045131261) and 3+5 (176,42493) forms.
SEEED_TAG = "01000734E0"
PY_RDM_TAG = "67003B51C6"
IKEYS_TAG = "0102B0A5FD"


def wait_for(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class Bench:
    """A simulated reader, the driver on its URL, and what the driver reported."""

    def __init__(self, variant: str, link_dir: Path) -> None:
        self.clock = ManualClock(T0)
        self.sim = SimulatedEm4100Reader(variant, link_dir=link_dir)
        self.scans: list[CheckpointScan] = []
        self.states: list[tuple[bool, str]] = []
        self.lock = threading.Lock()
        self.reader = Em4100Reader(
            self.sim.url,
            "gate-east",
            variant=variant,
            clock=self.clock,
            on_scan=self._scan,
            on_state=self._state,
            debounce_s=2.0,
            read_timeout_s=0.02,
            reopen_initial_s=0.02,
            reopen_max_s=0.1,
        )

    def _scan(self, scan: CheckpointScan) -> None:
        with self.lock:
            self.scans.append(scan)

    def _state(self, connected: bool, reason: str) -> None:
        with self.lock:
            self.states.append((connected, reason))

    def tag_ids(self) -> list[str]:
        with self.lock:
            return [s.tag_id for s in self.scans]

    def start(self) -> None:
        self.reader.start()
        # pyserial drains the line while opening; the card goes on the reader after that.
        wait_for(lambda: self.reader.stats.connected)

    def close(self) -> None:
        self.reader.stop()
        self.sim.close()


@pytest.fixture
def bench_factory(tmp_path: Path) -> Iterator[Callable[[str], Bench]]:
    made: list[Bench] = []

    def make(variant: str = "rdm6300") -> Bench:
        bench = Bench(variant, tmp_path / f"dev{len(made)}")
        made.append(bench)
        return bench

    yield make
    for bench in made:
        bench.close()


@pytest.fixture
def bench(bench_factory: Callable[[str], Bench]) -> Bench:
    made = bench_factory("rdm6300")
    made.start()
    return made


def test_card_held_on_the_reader_gives_one_scan_with_its_evidence(bench: Bench) -> None:
    sent = bench.sim.present(SEEED_TAG, seconds=0.5, repeat_ms=100)
    wait_for(lambda: bench.reader.stats.frames == sent)
    assert sent >= 4
    assert bench.reader.stats.scans == 1
    (scan,) = bench.scans
    assert scan.reader_id == "gate-east"
    assert scan.tag_id == SEEED_TAG
    assert scan.technology is TagTechnology.EM4100
    assert scan.source_format == "rdm6300"
    assert scan.raw == "0230313030303733344530443203"  # the data sheet's frame, byte for byte
    assert scan.scanned_at == scan.received_at == T0


def test_same_card_again_after_the_debounce_window_is_a_second_scan(bench: Bench) -> None:
    bench.sim.present(SEEED_TAG, seconds=0.2, repeat_ms=100)
    wait_for(lambda: bench.reader.stats.scans == 1)
    bench.clock.advance(2.5)
    bench.sim.present(SEEED_TAG, seconds=0.2, repeat_ms=100)
    wait_for(lambda: bench.reader.stats.scans == 2)
    assert [s.scanned_at for s in bench.scans] == [T0, T0 + timedelta(seconds=2.5)]


def test_noise_partial_frame_and_bad_checksum_are_counted_and_valid_scans_pass(
    bench: Bench,
) -> None:
    bench.sim.send(SEEED_TAG)
    bench.sim.noise()
    bench.sim.partial_frame()
    bench.sim.bad_checksum(IKEYS_TAG)
    bench.sim.send(PY_RDM_TAG, count=3)
    wait_for(lambda: bench.reader.stats.frames == 4)
    stats = bench.reader.stats
    assert bench.tag_ids() == [SEEED_TAG, PY_RDM_TAG]
    assert dict(stats.rejects) == {"garbage": 1, "cut": 1, "checksum": 1}
    assert stats.scans == 2


@pytest.mark.parametrize(
    ("variant", "expected_id", "technology"),
    [
        ("decimal", "0045131261", TagTechnology.EM4100),
        ("wiegand26", "176:42493", TagTechnology.WIEGAND),
        ("wiegand34", "0045131261", TagTechnology.WIEGAND),
    ],
)
def test_each_output_variant_reads_the_published_id_of_the_same_card(
    bench_factory: Callable[[str], Bench],
    variant: str,
    expected_id: str,
    technology: TagTechnology,
) -> None:
    bench = bench_factory(variant)
    bench.start()
    bench.sim.present(IKEYS_TAG, seconds=0.3, repeat_ms=100)
    bench.sim.bad_checksum(IKEYS_TAG)
    bench.sim.noise()
    bench.sim.send(IKEYS_TAG)
    wait_for(lambda: sum(bench.reader.stats.rejects.values()) == 2)
    wait_for(lambda: bench.reader.stats.frames >= 4)
    assert bench.tag_ids() == [expected_id]
    assert bench.scans[0].technology is technology
    assert bench.scans[0].source_format == variant


def test_unplug_mid_read_is_reported_and_scans_resume_after_replug(bench: Bench) -> None:
    bench.sim.send(SEEED_TAG)
    wait_for(lambda: bench.tag_ids() == [SEEED_TAG])
    old_slave = bench.sim.pty.slave_path

    bench.sim.partial_frame(PY_RDM_TAG)
    time.sleep(0.05)
    bench.sim.unplug()
    wait_for(lambda: not bench.reader.stats.connected)
    time.sleep(0.15)  # a few failed reopen attempts while the device is away
    bench.sim.replug()
    wait_for(lambda: bench.reader.stats.connected)

    bench.sim.send(PY_RDM_TAG)
    wait_for(lambda: bench.tag_ids() == [SEEED_TAG, PY_RDM_TAG])
    stats = bench.reader.stats
    assert stats.reopens == 1
    assert stats.disconnects == 1
    assert stats.rejects.get("cut") == 1  # the half frame did not glue onto the next one
    assert [c for c, _ in bench.states] == [True, False, True]
    assert Path(bench.sim.url).is_symlink()
    assert bench.sim.url not in (old_slave, bench.sim.pty.slave_path)


def test_reader_started_before_the_device_exists_connects_when_it_appears(
    tmp_path: Path,
) -> None:
    clock = ManualClock(T0)
    scans: list[CheckpointScan] = []
    link = tmp_path / "ttyEM9"
    reader = Em4100Reader(
        str(link),
        "gate-west",
        clock=clock,
        on_scan=scans.append,
        read_timeout_s=0.02,
        reopen_initial_s=0.02,
        reopen_max_s=0.05,
    )
    reader.start()
    pty = None
    try:
        wait_for(lambda: reader.stats.open_failures >= 2)
        pty = PtyPair(link_dir=tmp_path, link_name="ttyEM9")
        wait_for(lambda: reader.stats.connected)
        pty.write(bytes.fromhex("0230313030303733344530443203"))
        wait_for(lambda: len(scans) == 1)
    finally:
        reader.stop()
        if pty is not None:
            pty.close()
    assert scans[0].tag_id == SEEED_TAG
    assert reader.stats.reopens == 0


def test_a_failing_scan_consumer_does_not_stop_the_reader(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    delivered: list[str] = []

    def on_scan(scan: CheckpointScan) -> None:
        if not delivered:
            delivered.append("failed")
            raise RuntimeError("consumer bug")
        delivered.append(scan.tag_id)

    with SimulatedEm4100Reader(link_dir=tmp_path) as sim:
        reader = Em4100Reader(sim.url, "gate", clock=clock, on_scan=on_scan, read_timeout_s=0.02)
        with reader:
            wait_for(lambda: reader.stats.connected)
            sim.send(SEEED_TAG)
            wait_for(lambda: delivered == ["failed"])
            sim.send(PY_RDM_TAG)
            wait_for(lambda: delivered == ["failed", PY_RDM_TAG])
