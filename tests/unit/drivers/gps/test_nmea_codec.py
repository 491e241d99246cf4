"""NMEA decoder behaviour beyond the corpus: dating GGA, per-device state, the tracker id before
``$``, bad input. Sentences made here (``sentence()``) exercise rules and error paths; the golden
data are the corpus logs (``test_nmea_corpus*.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import reduce

import pytest

from drivers.gps.nmea import NmeaCodec
from tests.unit.drivers.gps.corpus_data import PYNMEA2, RECEIVED, gpsd_sentences

GGA_1843 = PYNMEA2["cases"][0]["sentence"]  # 18:43:53.07, no date


def sentence(body: str) -> str:
    """A hand-made sentence with its checksum (input for behaviour tests only)."""
    return f"${body}*{reduce(lambda a, c: a ^ ord(c), body, 0):02X}"


def gga(time_of_day: str) -> str:
    return sentence(f"GPGGA,{time_of_day},3035.568,N,11418.330,E,1,08,1.0,25.0,M,-10.0,M,,")


def rmc(time_of_day: str, day: str) -> str:
    return sentence(f"GNRMC,{time_of_day},A,3035.568,N,11418.330,E,1.0,90.0,{day},,,A")


def test_gga_of_a_terminal_without_any_rmc_is_rejected_whatever_the_gateway_clock_says() -> None:
    received = datetime(2026, 3, 1, 19, 0, tzinfo=UTC)
    outcome = NmeaCodec().decode(GGA_1843.encode(), received, "t1")
    assert outcome.fixes == ()
    assert [r.reason for r in outcome.rejects] == [
        "GGA without a date: no RMC from this terminal yet"
    ]


def test_gga_just_after_midnight_after_an_rmc_just_before_is_dated_the_next_day() -> None:
    codec = NmeaCodec()
    received = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    codec.decode(rmc("235958.00", "150624").encode(), received, "t1")
    (fix,) = codec.decode(gga("000003.00").encode(), received, "t1").fixes
    # Stored log replayed: the RMC said 2024-06-15 23:59:58, so 00:00:03 is the next day.
    assert fix.fix_time == datetime(2024, 6, 16, 0, 0, 3, tzinfo=UTC)


def test_late_gga_just_before_midnight_after_an_rmc_just_after_is_dated_the_day_before() -> None:
    codec = NmeaCodec()
    received = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    codec.decode(rmc("000001.00", "160624").encode(), received, "t1")
    (fix,) = codec.decode(gga("235959.00").encode(), received, "t1").fixes
    assert fix.fix_time == datetime(2024, 6, 15, 23, 59, 59, tzinfo=UTC)


def test_an_invalid_rmc_dates_nothing() -> None:
    codec = NmeaCodec()
    received = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    void = sentence("GPRMC,101010.00,V,,,,,,,010326,,,N")
    assert codec.decode(void.encode(), received, "t1").fixes == ()
    (rejected,) = codec.decode(gga("101011.00").encode(), received, "t1").rejects
    assert rejected.reason.startswith("GGA without a date")


def test_rmc_and_gga_of_one_epoch_merge_in_either_order() -> None:
    received = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for text in (
        f"{rmc('101010.00', '010326')}\r\n{gga('101010.00')}",
        f"{gga('101010.00')}\n{rmc('101010.00', '010326')}",
    ):
        (fix,) = NmeaCodec().decode(text.encode(), received, "t1").fixes
        assert fix.fix_time == datetime(2026, 3, 1, 10, 10, 10, tzinfo=UTC)
        assert fix.satellites == 8
        assert fix.accuracy_m == 5.0
        assert fix.speed_mps is not None and abs(fix.speed_mps - 0.514444) < 1e-6
        assert fix.course_deg == 90.0


def test_two_epochs_give_two_fixes() -> None:
    text = "\n".join([rmc("101010.00", "010326"), gga("101011.00"), rmc("101011.00", "010326")])
    outcome = NmeaCodec().decode(text.encode(), datetime(2026, 3, 1, tzinfo=UTC), "t1")
    assert [f.fix_time.second for f in outcome.fixes] == [10, 11]


RMC_MODE = "GPRMC,101010.00,A,3035.568,N,11418.330,E,1.0,90.0,010326,,,{}"
GGA_QUALITY = "GPGGA,101010.00,3035.568,N,11418.330,E,{},08,1.0,25.0,M,-10.0,M,,"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (RMC_MODE.format("S"), "simulated fix: RMC mode 'S' (receiver in simulator mode)"),
        (GGA_QUALITY.format(8), "simulated fix: GGA quality 8 (receiver in simulator mode)"),
        (RMC_MODE.format("E"), "estimated position: RMC mode 'E' (dead reckoning)"),
        (GGA_QUALITY.format(6), "estimated position: GGA quality 6 (dead reckoning)"),
        (RMC_MODE.format("M"), "manual position: RMC mode 'M' (typed in, not measured)"),
        (GGA_QUALITY.format(7), "manual position: GGA quality 7 (typed in, not measured)"),
        (RMC_MODE.format("N"), "no fix: RMC mode 'N'"),
        (GGA_QUALITY.format(0), "no fix: GGA quality 0"),
    ],
)
def test_simulated_estimated_manual_and_invalid_fixes_are_not_positions(
    body: str, reason: str
) -> None:
    codec = NmeaCodec()
    received = datetime(2026, 3, 1, tzinfo=UTC)
    codec.decode(rmc("101009.00", "010326").encode(), received, "t1")  # dates a lone GGA
    outcome = codec.decode(sentence(body).encode(), received, "t1")
    assert outcome.fixes == ()
    assert [(r.reason, r.raw, r.device_id) for r in outcome.rejects] == [
        (reason, sentence(body).encode(), "t1")
    ]


def test_a_simulated_sentence_condemns_its_epoch_and_the_stream_goes_on() -> None:
    # A fake-GPS app marking only its RMC (or only its GLL, or VTG) as simulated: the GGA of the
    # same epoch places nobody either; the next, real epoch is a fix.
    received = datetime(2026, 3, 1, tzinfo=UTC)
    simulated_rmc = sentence(RMC_MODE.format("S"))
    vtg = sentence("GPVTG,90.0,T,,M,1.0,N,1.9,K,S")
    gll = sentence("GPGLL,3035.568,N,11418.330,E,101010.00,A,S")
    for first, second in ((simulated_rmc, gga("101010.00")), (gga("101010.00"), simulated_rmc)):
        text = "\n".join([first, second, rmc("101011.00", "010326"), gga("101011.00")])
        outcome = NmeaCodec().decode(text.encode(), received, "t1")
        assert [f.fix_time.second for f in outcome.fixes] == [11]
        assert sorted(r.reason for r in outcome.rejects) == [
            "simulated fix: RMC mode 'S' (receiver in simulator mode)",
            "simulated fix: another sentence of this epoch is from a simulator",
        ]
    for marker, kind in ((vtg, "VTG"), (gll, "GLL")):
        text = "\n".join(
            [rmc("101010.00", "010326"), marker, gga("101010.00"), rmc("101011.00", "010326")]
        )
        outcome = NmeaCodec().decode(text.encode(), received, "t1")
        assert [f.fix_time.second for f in outcome.fixes] == [11]
        assert [r.reason for r in outcome.rejects] == [
            f"simulated fix: {kind} mode 'S' (receiver in simulator mode)",
            "simulated fix: another sentence of this epoch is from a simulator",
        ]
    # GLL and VTG with a real mode stay ignored, as before.
    real = [sentence("GPVTG,90.0,T,,M,1.0,N,1.9,K,A"), rmc("101010.00", "010326")]
    outcome = NmeaCodec().decode("\n".join(real).encode(), received, "t1")
    assert (len(outcome.fixes), outcome.rejects) == (1, ())


def test_garbage_binary_and_torn_lines_are_rejected_one_by_one() -> None:
    good = rmc("101010.00", "010326")
    payload = b"\xff\xfe\x00garbage\n" + good[:30].encode() + b"\n" + good.encode() + b"\n"
    outcome = NmeaCodec().decode(payload, datetime(2026, 3, 1, tzinfo=UTC), "t1")
    assert len(outcome.fixes) == 1
    assert [r.reason for r in outcome.rejects] == ["not ASCII text", "missing checksum"]


def test_without_a_device_id_everything_is_rejected() -> None:
    outcome = NmeaCodec().decode(GGA_1843.encode(), datetime(2026, 3, 1, tzinfo=UTC))
    assert outcome.fixes == ()
    assert outcome.rejects[0].reason.startswith("no device id")


def test_minutes_of_60_are_refused_as_a_placeholder() -> None:
    text = sentence("GPRMC,101010.00,A,8960.000,N,00000.000,E,0.0,0.0,010326,,,A")
    (rejected,) = NmeaCodec().decode(text.encode(), datetime(2026, 3, 1, tzinfo=UTC), "t1").rejects
    assert "minutes >= 60" in rejected.reason


def test_an_empty_payload_is_rejected_not_silently_ignored() -> None:
    outcome = NmeaCodec().decode(b" \r\n", datetime(2026, 3, 1, tzinfo=UTC), "gps-1")
    assert outcome.fixes == ()
    assert [r.reason for r in outcome.rejects] == ["empty payload"]


def test_two_talkers_of_an_epoch_give_one_fix_from_gn_and_one_talker_twice_gives_two() -> None:
    received = datetime(2026, 3, 1, tzinfo=UTC)
    gp = sentence("GPRMC,101010.00,A,3035.568,N,11418.330,E,1.0,90.0,010326,,,A")
    gn = sentence("GNRMC,101010.00,A,3035.569,N,11418.330,E,1.0,90.0,010326,,,A")
    (fix,) = NmeaCodec().decode(f"{gp}\n{gn}".encode(), received, "t1").fixes
    assert fix.raw.splitlines() == [gp, gn]
    assert abs(fix.lat - (30 + 35.569 / 60)) < 1e-9  # the combined (GN) solution
    codec = NmeaCodec()
    codec.decode(rmc("101009.00", "010326").encode(), received, "t1")
    repeated = f"{gga('101010.00')}\n{gga('101010.00')}"
    assert len(codec.decode(repeated.encode(), received, "t1").fixes) == 2


def test_rmc_of_another_day_at_the_same_time_is_another_epoch() -> None:
    text = "\n".join([rmc("101010.00", "010326"), rmc("101010.00", "020326")])
    outcome = NmeaCodec().decode(text.encode(), datetime(2026, 3, 3, tzinfo=UTC), "t1")
    assert [f.fix_time.day for f in outcome.fixes] == [1, 2]


def test_gns_mode_letters_outside_nmea_are_rejected_and_estimated_or_simulated_refused() -> None:
    codec = NmeaCodec()
    received = datetime(2026, 3, 1, tzinfo=UTC)
    codec.decode(rmc("101009.00", "010326").encode(), received, "t1")
    gns = "GNGNS,101010.00,3035.568,N,11418.330,E,{},08,1.0,25.0,-10.0,,,V"
    bad = codec.decode(sentence(gns.format("AX")).encode(), received, "t1").rejects
    assert [r.reason for r in bad] == ["bad GNS mode letters: 'AX'"]
    estimated = codec.decode(sentence(gns.format("EN")).encode(), received, "t1").rejects
    assert [r.reason for r in estimated] == ["estimated position: GNS mode 'EN' (dead reckoning)"]
    simulated = codec.decode(sentence(gns.format("AS")).encode(), received, "t1").rejects
    assert [r.reason for r in simulated] == [
        "simulated fix: GNS mode 'AS' (receiver in simulator mode)"
    ]
    no_fix = codec.decode(sentence(gns.format("NN")).encode(), received, "t1").rejects
    assert [r.reason for r in no_fix] == ["no fix: GNS mode 'NN'"]
    (fix,) = codec.decode(sentence(gns.format("NA")).encode(), received, "t1").fixes
    assert fix.fix_time == datetime(2026, 3, 1, 10, 10, 10, tzinfo=UTC)


def test_nan_and_infinite_numbers_are_rejected_not_raised() -> None:
    received = datetime(2026, 3, 1, tzinfo=UTC)
    for body in (
        "GPRMC,101010.00,A,nan,N,11418.330,E,1.0,90.0,010326,,,A",
        "GPGGA,101010.00,3035.568,N,11418.330,E,1,inf,1.0,25.0,M,-10.0,M,,",
    ):
        outcome = NmeaCodec().decode(sentence(body).encode(), received, "t1")
        assert outcome.fixes == ()
        assert outcome.rejects[0].reason.startswith("bad ")


# --- a tracker's id before '$' ----------------------------------------------------------------
# No corpus log has one, so an id is written by hand before a real receiver's sentence.
REAL_RMC = next(s for s in gpsd_sentences("quectelLC79D-1.log") if s[3:6] == "RMC")
REAL_GGA = next(s for s in gpsd_sentences("quectelLC79D-1.log") if s[3:6] == "GGA")
IMEI = "865067020012345"


def test_id_before_dollar_that_matches_the_topic_is_accepted_and_kept_as_evidence() -> None:
    line = f"{IMEI}{REAL_RMC}"
    (fix,) = NmeaCodec().decode(line.encode(), RECEIVED, IMEI).fixes
    assert fix.device_id == IMEI
    assert fix.raw == line
    assert fix.fix_time == datetime(2020, 11, 30, 8, 3, 59, tzinfo=UTC)


def test_id_before_dollar_naming_another_device_is_rejected_under_the_topics_device() -> None:
    payload = f"{IMEI}{REAL_RMC}\r\n{REAL_GGA}\r\n".encode()
    outcome = NmeaCodec().decode(payload, RECEIVED, "gps-1")
    assert outcome.fixes == ()
    refused, gga = outcome.rejects
    assert refused.reason == f"device id mismatch: sentence names '{IMEI}', topic names 'gps-1'"
    assert refused.device_id == "gps-1"
    assert refused.raw == f"{IMEI}{REAL_RMC}".encode()
    # The stream goes on, and the refused RMC dates nothing: the GGA after it has no date.
    assert gga.reason == "GGA without a date: no RMC from this terminal yet"


def test_without_a_topic_the_id_before_dollar_names_the_device() -> None:
    codec = NmeaCodec()
    payload = f"{IMEI}{REAL_RMC}\n{IMEI}{REAL_GGA}\n{REAL_GGA}".encode()
    outcome = codec.decode(payload, RECEIVED)
    (fix,) = outcome.fixes
    assert fix.device_id == IMEI
    assert fix.satellites == 14  # RMC and GGA of the same epoch merged
    (rejected,) = outcome.rejects
    assert rejected.reason.startswith("no device id")
    (named,) = NmeaCodec(fallback_device="unknown").decode(REAL_RMC.encode(), RECEIVED).fixes
    assert named.device_id == "unknown"


@pytest.mark.parametrize("head", ["foo bar", ",1.7,M*7D", "id*2A", "x" * 65])
def test_text_before_dollar_that_is_not_one_word_stays_garbage(head: str) -> None:
    (rejected,) = NmeaCodec().decode(f"{head}{REAL_RMC}".encode(), RECEIVED, "gps-1").rejects
    assert rejected.reason == "garbage before '$'"
