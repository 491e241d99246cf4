"""NMEA golden tests: pynmea2's sentence cases and gpsd's ten receiver logs with its regression
output (``.chk``), five of them NMEA 0183 v4.10/4.11 receivers. Our fixes must agree with gpsd's
on time, position and speed; the differences we accept are spelled out and tested below."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drivers.gps.decode_cli import split_payloads
from drivers.gps.nmea import NmeaCodec
from drivers.gps.nmea_sentence import dm_to_degrees, parse_time_of_day
from gateway.records import DecodeOutcome
from tests.unit.drivers.gps.corpus_data import (
    GPSD,
    PYNMEA2,
    RECEIVED,
    gpsd_fix_tpvs,
    gpsd_no_fix_sentences,
    gpsd_timed_fixes,
)

CASES: list[dict[str, Any]] = PYNMEA2["cases"]
LOGS = sorted(p.name for p in GPSD.glob("*.log"))


# A GGA has no date: the decoder dates it from the terminal's latest RMC. Each pynmea2 case is
# decoded by a codec that has seen the cases' one dated RMC (1994-11-19), as a terminal's decoder
# has seen its earlier RMCs.
DATING_RMC = CASES[2]["sentence"]
# pynmea2 reads the NMEA 4.10 navigational status (13th RMC field) ``V`` or empty as an invalid
# fix. It is an integrity status, not the fix status: receivers without integrity monitoring send
# ``V`` beside every valid fix (all five v4.10 logs below do) and gpsd ignores it. These two cases
# (status A, mode S) are refused for their simulator mode, not for their navigational status.
NAV_STATUS_CASES = {30, 31}
# pynmea2 counts mode S (simulator) valid: it is well-formed NMEA, but a receiver in demo mode or
# a fake-GPS app is evidence of nothing, so every status-A case in mode S is refused as simulated.
SIMULATED_CASES = {20, 29, 30, 31}


def _decode(text: str) -> DecodeOutcome:
    codec = NmeaCodec()
    codec.decode(DATING_RMC.encode("ascii"), RECEIVED, "gps-1")
    return codec.decode(text.encode("ascii"), RECEIVED, "gps-1")


def _cases(predicate: Any) -> list[Any]:
    return [pytest.param(c, id=f"case{CASES.index(c)}") for c in CASES if predicate(c)]


# --- pynmea2 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", _cases(lambda c: "error" in c["expected"] or "strict_parse" in c["expected"])
)
def test_sentences_pynmea2_refuses_are_rejected(case: dict[str, Any]) -> None:
    outcome = _decode(case["sentence"])
    assert outcome.fixes == ()
    assert len(outcome.rejects) == 1


@pytest.mark.parametrize(
    "case",
    _cases(
        lambda c: c["expected"].get("is_valid") is True and CASES.index(c) not in SIMULATED_CASES
    ),
)
def test_valid_rmc_and_gga_become_one_fix_at_pynmea2_coordinates(case: dict[str, Any]) -> None:
    expected = case["expected"]
    outcome = _decode(case["sentence"])
    assert outcome.rejects == ()
    (fix,) = outcome.fixes
    if "latitude" in expected:
        assert fix.lat == pytest.approx(expected["latitude"], abs=1e-12)
        assert fix.lon == pytest.approx(expected["longitude"], abs=1e-12)
    if "datetime_utc" in expected:
        assert fix.fix_time == datetime.fromisoformat(expected["datetime_utc"])
    assert fix.raw == case["sentence"]
    assert fix.source_format == "nmea"


@pytest.mark.parametrize(
    "case",
    _cases(
        lambda c: (
            (c["expected"].get("is_valid") is False or c["expected"].get("gps_qual") == 0)
            and CASES.index(c) not in SIMULATED_CASES
        )
    ),
)
def test_invalid_rmc_and_no_fix_gga_are_rejected_as_no_fix(case: dict[str, Any]) -> None:
    outcome = _decode(case["sentence"])
    assert outcome.fixes == ()
    (rejected,) = outcome.rejects
    assert rejected.reason.startswith("no fix")
    assert rejected.raw == case["sentence"].encode()


def test_rmc_in_simulator_mode_is_refused_as_simulated_whatever_its_navigational_status() -> None:
    for index in sorted(SIMULATED_CASES):
        case = CASES[index]
        assert case["expected"]["is_valid"] is (index not in NAV_STATUS_CASES)
        fields = case["sentence"].split("*")[0].split(",")
        assert (fields[2], fields[12]) == ("A", "S")
        outcome = _decode(case["sentence"])
        assert outcome.fixes == ()
        assert [(r.reason, r.raw) for r in outcome.rejects] == [
            (
                "simulated fix: RMC mode 'S' (receiver in simulator mode)",
                case["sentence"].encode(),
            )
        ]


def test_gga_alone_from_a_terminal_without_any_rmc_is_rejected_for_want_of_a_date() -> None:
    outcome = NmeaCodec().decode(CASES[0]["sentence"].encode(), RECEIVED, "gps-1")
    assert outcome.fixes == ()
    assert [r.reason for r in outcome.rejects] == [
        "GGA without a date: no RMC from this terminal yet"
    ]


@pytest.mark.parametrize(
    "case",
    _cases(
        lambda c: c["checksum"] == "ok" and c["expected"].get("type") not in (None, "RMC", "GGA")
    ),
)
def test_other_sentence_types_are_ignored_silently(case: dict[str, Any]) -> None:
    assert _decode(case["sentence"]) == DecodeOutcome()


def test_sentence_without_checksum_is_rejected_like_gpsd_though_pynmea2_accepts_it() -> None:
    (zda,) = [c for c in CASES if c["expected"].get("type") == "ZDA"]
    assert zda["checksum"] == "absent"
    (rejected,) = _decode(zda["sentence"]).rejects
    assert rejected.reason == "missing checksum"


def test_gga_values_match_pynmea2() -> None:
    case = CASES[0]
    expected = case["expected"]
    (fix,) = _decode(case["sentence"]).fixes
    assert fix.altitude_m == expected["altitude_m"]
    assert fix.satellites == int(expected["num_sats"])
    assert fix.accuracy_m == pytest.approx(float(expected["hdop"]) * 5.0)
    assert fix.fix_time.time().isoformat(timespec="milliseconds") == expected["time_utc"]


def test_simulator_track_of_status_v_and_quality_0_gives_no_positions() -> None:
    stream = PYNMEA2["file_stream"]
    outcome = _decode("\r\n".join(stream["sentences"]))
    assert outcome.fixes == ()
    # 4 RMC status V and 3 GGA quality 0 rejected; 3 GLL ignored.
    assert len(outcome.rejects) == 7
    assert all(r.reason.startswith("no fix") for r in outcome.rejects)


def test_partial_line_is_rejected_and_garbage_line_does_not_hide_the_next_sentence() -> None:
    data = PYNMEA2["stream_split"]["data"]
    partial = _decode(data[:10])
    assert partial.fixes == () and len(partial.rejects) == 1
    outcome = _decode("foo\n" + data)
    assert len(outcome.fixes) == 1
    assert len(outcome.rejects) == 1


@pytest.mark.parametrize("text,degrees", sorted(PYNMEA2["util"]["dm_to_sd"].items()))
def test_degrees_minutes_conversion_matches_pynmea2(text: str, degrees: float) -> None:
    assert dm_to_degrees(text) == pytest.approx(degrees)


@pytest.mark.parametrize("text,micro", sorted(PYNMEA2["util"]["timestamp_microseconds"].items()))
def test_fractional_seconds_match_pynmea2(text: str, micro: int) -> None:
    assert parse_time_of_day(text).microsecond == micro


# --- gpsd logs -------------------------------------------------------------------------------


def _ours(log: str) -> DecodeOutcome:
    codec = NmeaCodec(max_payload_bytes=None)  # a whole log, not one MQTT message
    ((payload, _),) = split_payloads("nmea", (GPSD / log).read_bytes())
    return codec.decode(payload, RECEIVED, "gps-1")


# gpsd reports a 2D position from MTK's first GGA with quality 0 (it trusts the GSA mode of the
# previous epoch); for us quality 0 is no fix. That is the only gpsd position we do not emit.
ACCEPTED_MISSING = {("mtk-3301.log", 52.21631655, 6.8849651)}


@pytest.mark.parametrize("log", LOGS)
def test_every_timed_gpsd_fix_is_ours_with_same_time_position_and_speed(log: str) -> None:
    final: dict[str, dict[str, Any]] = {}
    for tpv in gpsd_fix_tpvs(log):
        if "time" in tpv:
            final[tpv["time"]] = tpv  # the last report of an epoch has the RMC speed
    assert final, "each log has timed fixes"
    ours = {f.fix_time: f for f in _ours(log).fixes}
    for stamp, tpv in final.items():
        fix = ours[datetime.fromisoformat(stamp)]
        assert fix.lat == pytest.approx(tpv["lat"], abs=1e-8)
        assert fix.lon == pytest.approx(tpv["lon"], abs=1e-8)
        if "speed" in tpv:
            assert fix.speed_mps == pytest.approx(tpv["speed"], abs=0.0006)  # gpsd rounds to mm/s
        if "track" in tpv:
            assert fix.course_deg == pytest.approx(tpv["track"])


@pytest.mark.parametrize("log", LOGS)
def test_every_fix_of_ours_is_a_gpsd_position_and_vice_versa(log: str) -> None:
    # 1e-6 degrees (0.1 m) absorbs gpsd reporting a GGA's 5-decimal minutes where we keep the
    # same epoch's RMC with 4.
    def near(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return abs(a[0] - b[0]) < 1e-6 and abs(a[1] - b[1]) < 1e-6

    gpsd = [(t["lat"], t["lon"]) for t in gpsd_fix_tpvs(log)]
    accepted = [(lat, lon) for name, lat, lon in ACCEPTED_MISSING if name == log]
    ours = [(f.lat, f.lon) for f in _ours(log).fixes]
    assert all(any(near(o, g) for g in gpsd) for o in ours)
    missing = [g for g in gpsd if not any(near(o, g) for o in ours)]
    assert missing == accepted


# gpsd reports the first fix epoch of these logs before that epoch's RMC gives it a year, so its
# report has no time, and it does not report the epoch again once the RMC is read. We date the
# epoch from that same RMC; the position is gpsd's (test above).
UNTIMED_IN_GPSD = {
    ("beidou-gb.log", datetime(2015, 3, 2, 5, 32, 32, 438000, tzinfo=UTC)),
    ("mtk-3301.log", datetime(2008, 8, 23, 8, 14, 36, tzinfo=UTC)),
}


@pytest.mark.parametrize("log", LOGS)
def test_every_fix_of_ours_is_gpsds_fix_of_that_time_position_and_speed(log: str) -> None:
    gpsd = gpsd_timed_fixes(log)
    for fix in _ours(log).fixes:
        tpv = gpsd.get(fix.fix_time)
        if tpv is None:
            assert (log, fix.fix_time) in UNTIMED_IN_GPSD
            continue
        assert abs(fix.lat - tpv["lat"]) < 1e-6 and abs(fix.lon - tpv["lon"]) < 1e-6
        if "speed" in tpv:
            assert fix.speed_mps == pytest.approx(tpv["speed"], abs=0.0006)


# Sentences gpsd answers with a no-fix report that are fixes for us; gpsd's next report of the
# same epoch (after the GSA) is a 3D fix at the same position, as is ours:
# * Furuno's GNS mode ``NDD`` (GPS no fix, GLONASS and Galileo differential): gpsd reads only the
#   first letter; NMEA 4.10 gives one letter per constellation, and all ``N`` is no fix.
# * Furuno's GGA with quality 2 (differential) and ``00`` satellites: gpsd calls fewer than 3
#   satellites no fix; this receiver's GN GGA counts only GPS satellites (``N`` in the GNS beside
#   it, which counts 11). We trust the quality, and take the satellites from the GNS.
ACCEPTED_FIX = {
    ("furuno_gl_ga.log", "$GNGNS,120213.000,"),
    ("furuno_gl_ga.log", "$GNGGA,120213.000,"),
}


@pytest.mark.parametrize("log", LOGS)
def test_every_sentence_gpsd_reports_as_no_fix_gives_no_fix(log: str) -> None:
    outcome = _ours(log)
    no_fix = {r.raw.decode() for r in outcome.rejects if r.reason.startswith("no fix")}
    in_fixes = {line for fix in outcome.fixes for line in fix.raw.splitlines()}
    for line in gpsd_no_fix_sentences(log):
        if (log, line[:18]) in ACCEPTED_FIX:
            assert line in in_fixes
        else:
            assert line in no_fix


# Per log: our fixes, gpsd's dated fix epochs, sentences gpsd reports as no fix, our "no fix"
# rejects, our other rejects. Our fixes are gpsd's dated epochs plus UNTIMED_IN_GPSD; we reject
# more no-fix sentences than gpsd marks because gpsd reports once per epoch, not per sentence.
GOLDEN_COUNTS = {
    "beidou-gb.log": (2, 1, 7, 9, 0),
    "furuno_gl_ga.log": (16, 16, 2, 0, 0),
    "iTrek.log": (35, 35, 2, 2, 0),
    "magellan-ec10.log": (21, 21, 17, 17, 0),
    "mtk-3301.log": (4, 3, 13, 14, 3),
    "navika-100-fix.log": (20, 20, 0, 0, 0),
    "quectelLC79D-1.log": (29, 29, 0, 0, 0),
    "tcp-test.log": (1, 1, 0, 0, 1),
    "telit-pls83-w.log": (10, 10, 0, 0, 0),
    "ublox-f9p-hpnmea.log": (9, 9, 0, 0, 0),
}


@pytest.mark.parametrize("log", LOGS)
def test_exact_counts_of_fixes_and_rejects_per_log(log: str) -> None:
    outcome = _ours(log)
    no_fix = [r for r in outcome.rejects if r.reason.startswith("no fix")]
    counts = (
        len(outcome.fixes),
        len(gpsd_timed_fixes(log)),
        len(gpsd_no_fix_sentences(log)),
        len(no_fix),
        len(outcome.rejects) - len(no_fix),
    )
    assert counts == GOLDEN_COUNTS[log]
    untimed = len([entry for entry in UNTIMED_IN_GPSD if entry[0] == log])
    assert len(outcome.fixes) == len(gpsd_timed_fixes(log)) + untimed


def test_mtk_90_degrees_north_power_up_placeholders_never_become_positions() -> None:
    outcome = _ours("mtk-3301.log")
    assert all(f.lat < 89 for f in outcome.fixes)
    placeholders = [r for r in outcome.rejects if b"8960.000000,N" in r.raw]
    assert len(placeholders) == 12
    assert all(r.reason.startswith("no fix") for r in placeholders)


def test_mtk_first_quality_0_gga_that_gpsd_reports_is_rejected_as_no_fix() -> None:
    rejected = [r for r in _ours("mtk-3301.log").rejects if r.raw.startswith(b"$GPGGA,081434.590")]
    assert [r.reason for r in rejected] == ["no fix: GGA quality 0"]


def test_mtk_proprietary_sentences_without_checksum_are_rejected_as_gpsd_drops_them() -> None:
    rejects = _ours("mtk-3301.log").rejects
    assert [r.reason for r in rejects if r.raw.startswith(b"$POLYN")] == ["missing checksum"] * 3


def test_stream_starting_mid_sentence_rejects_the_fragment_and_keeps_the_rest() -> None:
    outcome = _ours("tcp-test.log")
    assert [r.raw for r in outcome.rejects] == [b",1.7,-30.40,M,-13.9,M,,*7D"]
    (fix,) = outcome.fixes
    # GGA and RMC of 19:32:21 merged: date/speed/course from RMC, satellites/HDOP/altitude from GGA.
    assert fix.fix_time == datetime(2007, 12, 23, 19, 32, 21, tzinfo=UTC)
    assert (fix.satellites, fix.altitude_m) == (4, -30.4)
    assert fix.accuracy_m == pytest.approx(1.7 * 5.0)
    assert fix.raw.splitlines()[0].startswith("$GPGGA,193221.00")


def test_lower_case_checksums_of_magellan_are_accepted() -> None:
    text = (GPSD / "magellan-ec10.log").read_text()
    assert "*4a" in text
    outcome = _ours("magellan-ec10.log")
    assert not [r for r in outcome.rejects if "checksum" in r.reason]


def test_beidou_gn_and_gb_talkers_are_read() -> None:
    fixes = _ours("beidou-gb.log").fixes
    assert [f.fix_time.isoformat() for f in fixes] == [
        "2015-03-02T05:32:32.438000+00:00",
        "2015-03-02T05:32:33.438000+00:00",
    ]
    # GPGGA counts the 6 GPS satellites, GNGNS (ANNA) all 7 used: its GNSA lists 6 GPS + BeiDou 201.
    assert fixes[0].satellites == 7
    assert "$GPGGA,053232.438" in fixes[0].raw and "$GNGNS,053232.438" in fixes[0].raw


def test_log_paths_exist() -> None:
    assert LOGS == [
        "beidou-gb.log",
        "furuno_gl_ga.log",
        "iTrek.log",
        "magellan-ec10.log",
        "mtk-3301.log",
        "navika-100-fix.log",
        "quectelLC79D-1.log",
        "tcp-test.log",
        "telit-pls83-w.log",
        "ublox-f9p-hpnmea.log",
    ]
    assert isinstance(GPSD, Path)
