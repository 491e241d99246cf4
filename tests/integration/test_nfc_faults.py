"""A PN532 reader that misbehaves never stops the checkpoint reader.

Line faults (garbage, a corrupt checksum, a reply later than nfcpy waits) break one nfcpy
session; the reader re-initialises the chip at once, without reporting a disconnection, and
scans keep coming. A reader that is unplugged is reported disconnected, retried with back-off,
and reported connected again when it is plugged back in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_mock import MockerFixture

from drivers.nfc import NfcCheckpointReader
from drivers.nfc.frontend import ReaderPath, open_frontend
from drivers.peer_lock import PeerLock
from drivers.serial.transport import SerialConfig, open_serial
from fwsim.pn532 import MifareClassic1k, Ntag213, Pn532Simulator, ndef_message, text_record
from gateway.clock import ManualClock
from gateway.errors import DeviceHeldElsewhere
from tests.fixtures.nfc import Recorder, wait_until
from tests.integration.test_nfc_reader import CLASSIC_UID, NTAG_UID, POLL


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 1, 30, tzinfo=UTC))


@pytest.fixture
def reader(
    sim: Pn532Simulator, clock: ManualClock, recorder: Recorder
) -> Iterator[NfcCheckpointReader]:
    nfc_reader = NfcCheckpointReader(
        f"tty:{sim.path}:pn532",
        "site-7/stair-b",
        clock=clock,
        on_scan=recorder.scan,
        on_state=recorder.state,
        debounce_s=2.0,
        backoff_initial_s=0.1,
        backoff_max_s=0.4,
    )
    nfc_reader.start()
    try:
        assert wait_until(lambda: nfc_reader.connected)
        yield nfc_reader
    finally:
        nfc_reader.stop()


FAULTS: dict[str, Callable[[Pn532Simulator], None]] = {
    "garbage_bytes": lambda sim: sim.inject_garbage(b"\x55\xaa\x13\x37\x00\xff\x42\x99"),
    "bad_data_checksum": lambda sim: sim.corrupt_next_replies(1, part="dcs"),
    "bad_length_checksum": lambda sim: sim.corrupt_next_replies(1, part="lcs"),
    "reply_later_than_the_driver_waits": lambda sim: sim.delay_next_replies(1.5),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_line_fault_is_recovered_and_scans_keep_coming(
    sim: Pn532Simulator,
    reader: NfcCheckpointReader,
    recorder: Recorder,
    clock: ManualClock,
    fault: Callable[[Pn532Simulator], None],
) -> None:
    sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-11"))))
    assert wait_until(lambda: len(recorder.scans) == 1)

    fault(sim)  # hits the next reply: a presence check of the held tag

    assert wait_until(lambda: reader.stats.session_errors == 1)
    assert wait_until(lambda: reader.stats.opens == 2), "the chip was not re-initialised"
    sim.present(MifareClassic1k(CLASSIC_UID))
    assert wait_until(lambda: len(recorder.scans) == 2)
    assert recorder.scans[1].tag_id == "5C9A3E21"
    # a recovered glitch is not a disconnection
    assert recorder.states == [(True, "opened")]


def test_slow_replies_within_the_drivers_timeouts_cost_nothing(
    sim: Pn532Simulator, reader: NfcCheckpointReader, recorder: Recorder
) -> None:
    sim.delay_next_replies(0.05, count=20)
    sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-12"))))

    assert wait_until(lambda: len(recorder.scans) == 1)
    assert recorder.scans[0].ndef_text == "CP-12"
    assert reader.stats.session_errors == 0


def test_garbage_while_polling_an_empty_field_is_recovered(
    sim: Pn532Simulator, reader: NfcCheckpointReader, recorder: Recorder
) -> None:
    for _ in range(3):
        sim.inject_garbage()
        assert sim.wait_for_commands(POLL, more=2)

    sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-13"))))
    assert wait_until(lambda: len(recorder.scans) == 1)
    assert reader.stats.session_errors >= 3


def test_reader_unplugged_mid_read_is_reported_and_reopened_after_replug(
    sim: Pn532Simulator, reader: NfcCheckpointReader, recorder: Recorder, clock: ManualClock
) -> None:
    sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-14"))))
    assert wait_until(lambda: len(recorder.scans) == 1)  # nfcpy now checks the tag's presence

    sim.unplug()

    assert wait_until(lambda: not reader.connected)
    assert recorder.states[-1][0] is False
    assert "open failed" in recorder.states[-1][1]
    failures = reader.stats.open_failures
    time.sleep(1.0)
    retries = reader.stats.open_failures - failures
    assert 1 <= retries <= 8, "retries are neither stopped nor a busy loop (back-off 0.1-0.4 s)"

    sim.remove()
    sim.replug()

    assert wait_until(lambda: reader.connected)
    assert recorder.states[-1] == (True, "reopened")
    clock.advance(5.0)
    sim.present(MifareClassic1k(CLASSIC_UID))
    assert wait_until(lambda: len(recorder.scans) == 2)
    assert recorder.scans[1].tag_id == "5C9A3E21"


def test_reader_absent_at_start_is_reported_and_picked_up_when_plugged_in(
    clock: ManualClock, recorder: Recorder
) -> None:
    with Pn532Simulator() as sim:
        sim.unplug()
        nfc_reader = NfcCheckpointReader(
            f"tty:{sim.path}:pn532",
            "site-7/stair-c",
            clock=clock,
            on_scan=recorder.scan,
            on_state=recorder.state,
            backoff_initial_s=0.1,
            backoff_max_s=0.3,
        )
        nfc_reader.start()
        try:
            assert wait_until(lambda: bool(recorder.states))
            assert recorder.states[0][0] is False
            sim.replug()
            assert wait_until(lambda: nfc_reader.connected)
            assert recorder.states[-1] == (True, "opened")
            sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-15"))))
            assert wait_until(lambda: len(recorder.scans) == 1)
        finally:
            nfc_reader.stop()


def test_failing_scan_callback_does_not_stop_the_reader(
    sim: Pn532Simulator, clock: ManualClock
) -> None:
    seen: list[str] = []

    def on_scan(scan: object) -> None:
        seen.append(getattr(scan, "tag_id", ""))
        raise RuntimeError("downstream is broken")

    nfc_reader = NfcCheckpointReader(
        f"tty:{sim.path}:pn532", "site-7/stair-d", clock=clock, on_scan=on_scan
    )
    nfc_reader.start()
    try:
        sim.present(MifareClassic1k(CLASSIC_UID))
        assert wait_until(lambda: len(seen) == 1)
        sim.present(Ntag213(NTAG_UID))
        assert wait_until(lambda: len(seen) == 2)
        assert nfc_reader.stats.callback_errors == 2
    finally:
        nfc_reader.stop()


def _watched(
    path: str,
    reader_id: str,
    clock: ManualClock,
    recorder: Recorder,
    peer_lock: Path | None = None,
) -> NfcCheckpointReader:
    """A reader whose scans, states and standbys ``recorder`` keeps, retrying quickly, with a
    peer lock at ``peer_lock`` if given (as a gateway process gives it)."""
    return NfcCheckpointReader(
        path,
        reader_id,
        clock=clock,
        on_scan=recorder.scan,
        on_state=recorder.state,
        on_standby=recorder.standby,
        peer_lock=None if peer_lock is None else PeerLock(peer_lock),
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )


def test_a_reader_held_by_another_opener_is_taken_over_when_that_one_closes(
    sim: Pn532Simulator, clock: ManualClock, recorder: Recorder
) -> None:
    path = f"tty:{sim.path}:pn532"
    holder = NfcCheckpointReader(path, "site-7/stair-e", clock=clock, on_scan=lambda _: None)
    waiting = _watched(path, "site-7/stair-e", clock, recorder)
    holder.start()
    try:
        assert wait_until(lambda: holder.connected)
        waiting.start()
        assert wait_until(lambda: waiting.stats.open_failures >= 3)
        assert waiting.stats.opens == 0 and not waiting.connected
        assert recorder.states == []  # standing by: the reader is not lost, no outage
        assert len(recorder.standbys) == 1  # said once for the spell, not once an attempt
        assert "in use by another process" in recorder.standbys[0]

        holder.stop()
        assert wait_until(lambda: waiting.connected)
        assert recorder.states == [(True, "opened")]
        sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-16"))))
        assert wait_until(lambda: len(recorder.scans) == 1)
    finally:
        waiting.stop()
        holder.stop()


def test_a_reader_that_stood_by_after_a_glitch_reports_reading_again(
    sim: Pn532Simulator, clock: ManualClock, recorder: Recorder, mocker: MockerFixture
) -> None:
    """A line glitch ends a session; before the reader reopens, another opener takes the tty
    for a while (injected: the next two opens are refused as held), so the reader stands by.
    When it gets the reader back it must say so: whoever watches its state saw it stand by."""
    opens = {"n": 0}

    def held_twice_after_the_first(path: ReaderPath) -> Any:
        opens["n"] += 1
        if opens["n"] in (2, 3):
            raise DeviceHeldElsewhere(f"{path.device}: in use by another process")
        return open_frontend(path)

    mocker.patch("drivers.nfc.reader.open_frontend", side_effect=held_twice_after_the_first)
    nfc_reader = _watched(f"tty:{sim.path}:pn532", "site-7/stair-f", clock, recorder)
    nfc_reader.start()
    try:
        assert wait_until(lambda: nfc_reader.connected)
        sim.inject_garbage(b"\x55\xaa\x13\x37\x00\xff\x42\x99")
        assert wait_until(lambda: nfc_reader.stats.opens == 2)
        assert opens["n"] == 4
        assert len(recorder.standbys) == 1
        assert recorder.states == [(True, "opened"), (True, "reopened")]
        sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-17"))))
        assert wait_until(lambda: len(recorder.scans) == 1)
    finally:
        nfc_reader.stop()


def test_a_reader_that_vanishes_while_another_opener_holds_it_is_that_openers_loss(
    sim: Pn532Simulator, clock: ManualClock, recorder: Recorder
) -> None:
    """The waiting reader stands by while another opener holds the tty; the reader is unplugged:
    the holder reports the loss, the waiting one does not (one unplugged reader, one alert)."""
    path = f"tty:{sim.path}:pn532"
    holder_states = Recorder()
    holder = NfcCheckpointReader(
        path, "site-7/stair-g", clock=clock, on_scan=lambda _: None, on_state=holder_states.state
    )
    waiting = _watched(path, "site-7/stair-g", clock, recorder)
    holder.start()
    try:
        assert wait_until(lambda: holder.connected)
        waiting.start()
        assert wait_until(lambda: len(recorder.standbys) == 1)
        sim.unplug()
        assert wait_until(lambda: not holder.connected)
        assert holder_states.states[-1][0] is False  # the holder's loss, reported by it
        holder.stop()
        failures = waiting.stats.open_failures
        assert wait_until(lambda: waiting.stats.open_failures >= failures + 5)
        assert recorder.states == []
    finally:
        waiting.stop()
        holder.stop()


def test_nfc_readers_sharing_a_peer_lock_one_reads_and_reports_losses_the_other_stands_by(
    sim: Pn532Simulator, clock: ManualClock, recorder: Recorder, tmp_path: Path
) -> None:
    """Two gateway processes' readers of one PN532 (one peer lock file): the owner reads it and
    reports its unplugging and return, once each; the other stands by without touching the tty
    and reports nothing, however often it tries. The owner stops: the other reads the reader."""
    path, lock = f"tty:{sim.path}:pn532", tmp_path / "locks" / "stair-h.lock"
    owner_states = Recorder()
    owner = _watched(path, "site-7/stair-h", clock, owner_states, lock)
    other = _watched(path, "site-7/stair-h", clock, recorder, lock)
    owner.start()
    try:
        assert wait_until(lambda: owner.connected)
        other.start()
        assert wait_until(lambda: other.stats.open_failures >= 3)
        assert len(recorder.standbys) == 1
        assert "another gateway process" in recorder.standbys[0]
        sim.unplug()
        assert wait_until(lambda: not owner.connected)
        failures = other.stats.open_failures
        assert wait_until(lambda: other.stats.open_failures >= failures + 5)
        sim.remove()
        sim.replug()
        assert wait_until(lambda: owner.connected)
        assert [connected for connected, _ in owner_states.states] == [True, False, True]
        assert recorder.states == [] and len(recorder.standbys) == 1
        owner.stop()
        assert wait_until(lambda: other.connected)
        sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-18"))))
        assert wait_until(lambda: len(recorder.scans) == 1)
        assert owner_states.scans == []
    finally:
        other.stop()
        owner.stop()


def test_an_nfc_reader_held_by_a_program_without_the_peer_lock_is_reported_lost(
    sim: Pn532Simulator, clock: ManualClock, recorder: Recorder, tmp_path: Path
) -> None:
    """A program that is not a gateway process holds the reader's tty: the reader owning the
    peer lock reports it lost, once however often it tries, and reads it once it is let go."""
    program = open_serial(SerialConfig(sim.path))
    nfc_reader = _watched(
        f"tty:{sim.path}:pn532", "site-7/stair-i", clock, recorder, tmp_path / "stair-i.lock"
    )
    nfc_reader.start()
    try:
        assert wait_until(lambda: nfc_reader.stats.open_failures >= 5)
        assert recorder.standbys == []
        ((connected, reason),) = recorder.states
        assert not connected
        assert "held by a program that is not a gateway process" in reason
        program.close()
        assert wait_until(lambda: nfc_reader.connected)
        sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-19"))))
        assert wait_until(lambda: len(recorder.scans) == 1)
        assert [connected for connected, _ in recorder.states] == [False, True]
    finally:
        nfc_reader.stop()
        program.close()
