"""NMEA 0183 v4.10/4.11 receivers (gpsd's Quectel LC79D, Telit PLS83-W, Navika-100, u-blox F9P
and Furuno GT-88 logs): the navigational status beside a valid fix, GNS, several talkers in one
epoch, and GGA/GNS dated from the terminal's latest RMC. The per-log agreement with gpsd (every
fix, every no-fix sentence, exact counts) is in ``test_nmea_corpus.py``."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from drivers.gps.nmea import NmeaCodec
from gateway.records import DecodeOutcome
from tests.unit.drivers.gps.corpus_data import RECEIVED, gpsd_sentences, gpsd_timed_fixes

V410_LOGS = {
    # log: RMC sentences in it, each with navigational status V beside status A
    "quectelLC79D-1.log": 29,
    "telit-pls83-w.log": 20,
    "navika-100-fix.log": 20,
    "ublox-f9p-hpnmea.log": 9,
    "furuno_gl_ga.log": 16,
}


def _decode(lines: list[str], codec: NmeaCodec | None = None) -> DecodeOutcome:
    payload = "\r\n".join(lines).encode("ascii")
    return (codec or NmeaCodec(max_payload_bytes=None)).decode(payload, RECEIVED, "gps-1")


def _kind(line: str) -> str:
    return line[3:6]


@pytest.mark.parametrize("log", sorted(V410_LOGS))
def test_rmc_with_navigational_status_v_beside_status_a_is_a_fix(log: str) -> None:
    sentences = gpsd_sentences(log)
    rmcs = [s for s in sentences if _kind(s) == "RMC"]
    fields = [s.split("*")[0].split(",") for s in rmcs]
    assert len(rmcs) == V410_LOGS[log]
    assert all(len(f) == 14 and f[2] == "A" and f[13] == "V" for f in fields)
    outcome = _decode(sentences)
    assert outcome.rejects == ()
    in_fixes = {line for fix in outcome.fixes for line in fix.raw.splitlines()}
    assert set(rmcs) <= in_fixes


def test_telit_gp_ga_and_gn_sentences_of_one_epoch_make_one_fix() -> None:
    outcome = _decode(gpsd_sentences("telit-pls83-w.log"))
    gpsd = gpsd_timed_fixes("telit-pls83-w.log")
    assert len(outcome.fixes) == 10
    for fix in outcome.fixes:
        kinds = [line[1:6] for line in fix.raw.splitlines()]
        assert kinds == ["GPGGA", "GAGGA", "GNGNS", "GPRMC", "GARMC"]
        # GPGGA counts 5 satellites, GAGGA 1; the GNS (all constellations) counts 14.
        assert fix.satellites == 14
        assert fix.altitude_m == gpsd[fix.fix_time]["altMSL"]
        assert fix.accuracy_m == pytest.approx(1.3 * 5.0)
        assert fix.fix_time.date() == date(2025, 9, 4)


def test_furuno_gns_with_gps_no_fix_but_glonass_and_galileo_differential_is_a_fix() -> None:
    sentences = gpsd_sentences("furuno_gl_ga.log")
    gns = [s for s in sentences if _kind(s) == "GNS"]
    assert {s.split(",")[6] for s in gns} == {"NDD"}
    outcome = _decode(sentences)
    assert len(outcome.fixes) == 16
    # The GGA beside it says quality 2 with 00 satellites (GPS only); the GNS counts 10 or 11.
    assert {f.satellites for f in outcome.fixes} == {10, 11}


def test_gns_without_rmc_in_its_epoch_takes_the_date_of_the_terminals_latest_rmc() -> None:
    sentences = gpsd_sentences("telit-pls83-w.log")
    first_rmc = next(s for s in sentences if _kind(s) == "RMC")
    gns = [s for s in sentences if _kind(s) == "GNS"]
    codec = NmeaCodec(max_payload_bytes=None)  # whole receiver logs
    assert len(_decode([first_rmc], codec).fixes) == 1
    outcome = _decode(gns, codec)  # a later payload: GNS only
    assert outcome.rejects == ()
    gpsd = gpsd_timed_fixes("telit-pls83-w.log")
    assert [f.fix_time for f in outcome.fixes] == sorted(gpsd)
    for fix in outcome.fixes:
        tpv = gpsd[fix.fix_time]
        assert abs(fix.lat - tpv["lat"]) < 1e-6 and abs(fix.lon - tpv["lon"]) < 1e-6
        assert fix.speed_mps is None and fix.satellites == 14


def test_gga_only_stream_is_dated_from_the_rmc_of_an_earlier_payload() -> None:
    sentences = gpsd_sentences("quectelLC79D-1.log")
    first_rmc = next(s for s in sentences if _kind(s) == "RMC")
    codec = NmeaCodec(max_payload_bytes=None)  # whole receiver logs
    _decode([first_rmc], codec)
    outcome = _decode([s for s in sentences if _kind(s) == "GGA"], codec)
    assert outcome.rejects == ()
    assert [f.fix_time for f in outcome.fixes] == sorted(gpsd_timed_fixes("quectelLC79D-1.log"))
    assert outcome.fixes[0].fix_time == datetime(2020, 11, 30, 8, 3, 59, tzinfo=UTC)


@pytest.mark.parametrize("log,kind", [("telit-pls83-w.log", "GNS"), ("quectelLC79D-1.log", "GGA")])
def test_gga_or_gns_from_a_terminal_that_sent_no_rmc_is_rejected_not_dated_by_our_clock(
    log: str, kind: str
) -> None:
    lines = [s for s in gpsd_sentences(log) if s[3:6] == kind and s[1:3] == "GN"]
    outcome = _decode(lines)
    assert outcome.fixes == ()
    assert {r.reason for r in outcome.rejects} == {
        f"{kind} without a date: no RMC from this terminal yet"
    }
    assert [r.raw.decode() for r in outcome.rejects] == lines
    assert {r.device_id for r in outcome.rejects} == {"gps-1"}


def test_the_date_of_one_terminal_never_dates_another() -> None:
    sentences = gpsd_sentences("quectelLC79D-1.log")
    codec = NmeaCodec(max_payload_bytes=None)  # whole receiver logs
    codec.decode(next(s for s in sentences if _kind(s) == "RMC").encode(), RECEIVED, "gps-1")
    gga = next(s for s in sentences if _kind(s) == "GGA")
    assert len(codec.decode(gga.encode(), RECEIVED, "gps-1").fixes) == 1
    (rejected,) = codec.decode(gga.encode(), RECEIVED, "gps-2").rejects
    assert rejected.reason == "GGA without a date: no RMC from this terminal yet"
