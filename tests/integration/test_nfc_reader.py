"""nfcpy's own PN532 driver reads patrol checkpoint tags from the simulated PN532 over a pty.

Nothing is mocked between the reader and the simulator: nfcpy opens the pty with pyserial,
initialises the chip (firmware version, SAM configuration, baud rate change, line test, RF
settings), polls with InListPassiveTarget and reads NTAG213 memory through InCommunicateThru.
The NDEF bytes on the simulated tag are hand-assembled from the NFC Forum specifications.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import nfc
import pytest

from drivers.nfc import NfcCheckpointReader
from fwsim.pn532 import (
    MifareClassic1k,
    Ntag213,
    Pn532Simulator,
    ndef_message,
    text_record,
    uri_record,
)
from gateway.clock import ManualClock
from gateway.records import TagTechnology
from tests.fixtures.nfc import Recorder, wait_until

NTAG_UID = bytes.fromhex("04A1B2C3D4E5F6")
CLASSIC_UID = bytes.fromhex("5C9A3E21")
READ = 0x42  # InCommunicateThru: how nfcpy sends Type 2 READ and presence checks
POLL = 0x4A  # InListPassiveTarget


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 1, 30, tzinfo=UTC))


@pytest.fixture
def reader(
    sim: Pn532Simulator, clock: ManualClock, recorder: Recorder
) -> Iterator[NfcCheckpointReader]:
    nfc_reader = NfcCheckpointReader(
        f"tty:{sim.path}:pn532",
        "site-7/gate-reader",
        clock=clock,
        on_scan=recorder.scan,
        on_state=recorder.state,
        debounce_s=2.0,
        backoff_max_s=0.5,
    )
    nfc_reader.start()
    try:
        assert wait_until(lambda: nfc_reader.connected), "nfcpy did not initialise the simulator"
        yield nfc_reader
    finally:
        nfc_reader.stop()


def test_ntag213_uid_and_ndef_text_are_read_by_nfcpys_pn532_driver(
    sim: Pn532Simulator, reader: NfcCheckpointReader, recorder: Recorder, clock: ManualClock
) -> None:
    message = ndef_message(text_record("CP-07 east gate"), uri_record("https://g.example/cp/7"))
    sim.present(Ntag213(NTAG_UID, message))

    assert wait_until(lambda: len(recorder.scans) == 1)
    scan = recorder.scans[0]
    assert scan.reader_id == "site-7/gate-reader"
    assert scan.tag_id == "04A1B2C3D4E5F6"
    assert scan.technology is TagTechnology.NFC_TYPE2
    assert scan.ndef_text == "CP-07 east gate"
    assert scan.scanned_at == scan.received_at == clock.now()
    assert scan.source_format == "nfcpy"
    assert scan.raw == "440000" + NTAG_UID.hex() + ":" + message.hex()
    assert recorder.states == [(True, "opened")]


def test_uri_record_is_the_checkpoint_text_when_the_tag_has_no_text_record(
    sim: Pn532Simulator, reader: NfcCheckpointReader, recorder: Recorder
) -> None:
    sim.present(Ntag213(NTAG_UID, ndef_message(uri_record("https://g.example/cp/8"))))

    assert wait_until(lambda: len(recorder.scans) == 1)
    assert recorder.scans[0].ndef_text == "https://g.example/cp/8"


def test_blank_ntag213_is_reported_by_uid_without_text(
    sim: Pn532Simulator, reader: NfcCheckpointReader, recorder: Recorder
) -> None:
    sim.present(Ntag213(NTAG_UID))

    assert wait_until(lambda: len(recorder.scans) == 1)
    assert recorder.scans[0].tag_id == "04A1B2C3D4E5F6"
    assert recorder.scans[0].ndef_text is None


def test_mifare_classic_card_is_identified_by_uid(
    sim: Pn532Simulator, reader: NfcCheckpointReader, recorder: Recorder
) -> None:
    sim.present(MifareClassic1k(CLASSIC_UID))

    assert wait_until(lambda: len(recorder.scans) == 1)
    scan = recorder.scans[0]
    assert scan.tag_id == "5C9A3E21"
    assert scan.technology is TagTechnology.MIFARE_CLASSIC
    assert scan.ndef_text is None
    assert scan.raw == "040008" + CLASSIC_UID.hex()


@pytest.mark.parametrize(
    "make_tag",
    [
        lambda: Ntag213(NTAG_UID, ndef_message(text_record("CP-01"))),
        lambda: MifareClassic1k(CLASSIC_UID),
    ],
    ids=["ntag213", "mifare_classic"],
)
def test_tag_held_to_the_reader_for_several_seconds_is_one_scan(
    sim: Pn532Simulator,
    reader: NfcCheckpointReader,
    recorder: Recorder,
    clock: ManualClock,
    make_tag: Callable[[], Ntag213 | MifareClassic1k],
) -> None:
    sim.present(make_tag())
    assert wait_until(lambda: len(recorder.scans) == 1)

    def checks() -> int:
        return sim.command_count(POLL) + sim.command_count(READ)

    for _ in range(12):  # 6 s on the clock, far past the 2 s debounce
        clock.advance(0.5)
        # The reader checks the tag again at this time on the clock (it did not just stop
        # polling): waited for, not slept for, so a slow machine reads the same.
        target = checks() + 2
        assert wait_until(lambda: checks() >= target)  # noqa: B023 (called in this iteration)

    assert len(recorder.scans) == 1


def test_tag_taken_away_and_presented_again_after_the_debounce_is_a_second_scan(
    sim: Pn532Simulator, reader: NfcCheckpointReader, recorder: Recorder, clock: ManualClock
) -> None:
    sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-02"))))
    assert wait_until(lambda: len(recorder.scans) == 1)
    first_at = clock.now()

    sim.remove()
    assert sim.wait_for_commands(POLL, more=3), "the reader did not go back to polling"
    clock.advance(3.0)
    sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-02"))))

    assert wait_until(lambda: len(recorder.scans) == 2)
    assert (recorder.scans[1].scanned_at - first_at).total_seconds() == 3.0


def test_tag_presented_again_within_the_debounce_is_not_a_second_scan(
    sim: Pn532Simulator, reader: NfcCheckpointReader, recorder: Recorder, clock: ManualClock
) -> None:
    sim.present(MifareClassic1k(CLASSIC_UID))
    assert wait_until(lambda: len(recorder.scans) == 1)

    sim.remove()
    assert sim.wait_for_commands(POLL, more=3)
    clock.advance(1.0)
    reads = reader.stats.tags_read
    sim.present(MifareClassic1k(CLASSIC_UID))

    assert wait_until(lambda: reader.stats.tags_read > reads)
    assert len(recorder.scans) == 1
    assert reader.stats.debounced == 1


def test_two_different_tags_in_quick_succession_are_two_scans(
    sim: Pn532Simulator, reader: NfcCheckpointReader, recorder: Recorder
) -> None:
    sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-03"))))
    assert wait_until(lambda: len(recorder.scans) == 1)
    sim.present(MifareClassic1k(CLASSIC_UID))

    assert wait_until(lambda: len(recorder.scans) == 2)
    assert [s.tag_id for s in recorder.scans] == ["04A1B2C3D4E5F6", "5C9A3E21"]


def test_stop_returns_promptly_while_a_tag_is_held(
    sim: Pn532Simulator, reader: NfcCheckpointReader, recorder: Recorder
) -> None:
    sim.present(Ntag213(NTAG_UID, ndef_message(text_record("CP-04"))))
    assert wait_until(lambda: len(recorder.scans) == 1)

    started = time.monotonic()
    reader.stop()

    assert time.monotonic() - started < 1.5
    assert not any(t.name.startswith("nfc-reader-") for t in threading.enumerate())


@pytest.mark.skipif(not os.access("/dev", os.W_OK), reason="needs a writable /dev for the link")
def test_nfcpys_own_tty_path_finds_the_simulator_linked_under_dev() -> None:
    name = f"pn532sim{os.getpid()}"
    with Pn532Simulator(f"/dev/{name}") as simulator:
        simulator.present(MifareClassic1k(CLASSIC_UID))
        frontend = nfc.ContactlessFrontend(f"tty:{name}:pn532")
        try:
            tag = frontend.connect(rdwr={"on-connect": lambda tag: False, "beep-on-connect": False})
            assert bytes(tag.identifier) == CLASSIC_UID
            assert str(frontend.device) == f"PN532v1.6 at /dev/{name}"
        finally:
            frontend.close()
    assert not os.path.lexists(f"/dev/{name}")
