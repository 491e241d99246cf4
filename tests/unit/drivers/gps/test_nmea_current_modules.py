"""NMEA 4.10/4.11 output of GNSS modules sold today, from published captures (each cited).

Every line below is copied from its source; checksums were recomputed and match. Expected values
are worked out by hand from NMEA 0183 (``ddmm.mmmm`` to degrees, knots to m/s, HDOP x 5 m), not
by any encoder of ours. What is checked, per module: a payload's fix is taken with its time,
position and quality; its non-fix lines (GSV, GSA with the system id, TXT, GBS, proprietary
``$PUBX``/``$PQTM``...) are skipped without a reject; a receiver without a fix gives no position.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from drivers.gps.nmea import NmeaCodec
from gateway.records import DecodeOutcome
from tests.unit.drivers.gps.corpus_data import RECEIVED, gpsd_sentences

KNOT = 1852.0 / 3600.0

# Techtotop/ZHONGKEWEI ATGM336H (CASIC), one epoch as the module prints it: GGA, GLL, GSA with
# the NMEA 4.10 system id, GPS and BeiDou GSV, RMC with the navigational status, VTG, ZDA and
# the antenna TXT. Source: github.com/MaxwellJay256/Bike-Computer,
# components/gps_ATGM336H/README.md ("Origin output data form").
ATGM336H_EPOCH = [
    "$GNGGA,132506.000,2233.87430,N,11407.13740,E,1,13,1.0,103.3,M,-2.8,M,,*5E",
    "$GNGLL,2233.87430,N,11407.13740,E,132506.000,A,A*4E",
    "$GNGSA,A,3,02,05,15,23,24,29,195,,,,,,1.6,1.0,1.3,1*07",
    "$GNGSA,A,3,07,10,16,21,34,42,,,,,,,1.6,1.0,1.3,4*33",
    "$GPGSV,3,1,09,02,34,134,15,05,40,044,14,15,71,308,25,18,32,326,26,0*68",
    "$GPGSV,3,2,09,20,25,074,,23,13,293,37,24,32,174,31,29,45,251,37,0*6B",
    "$GPGSV,3,3,09,195,50,158,31,0*6A",
    "$BDGSV,3,1,11,03,,,28,07,13,193,27,10,14,207,32,12,,,35,0*71",
    "$BDGSV,3,2,11,16,66,191,29,21,47,308,41,22,41,027,,34,33,309,25,0*74",
    "$BDGSV,3,3,11,40,,,33,42,12,265,36,44,,,28,0*4B",
    "$GNRMC,132506.000,A,2233.87430,N,11407.13740,E,0.00,244.71,080522,,,A,V*0A",
    "$GNVTG,244.71,T,,M,0.00,N,0.00,K,A*27",
    "$GNZDA,132506.000,08,05,2022,00,00*44",
    "$GPTXT,01,01,01,ANTENNA OPEN*25",
]

# u-blox M8/M9 (protocol 23+, NMEA 4.11) after power-up without a fix: RMC status V, mode N,
# navigational status V; GGA quality 0; GSA per system; empty GSV; GLL V.
# Source: github.com/semuconsulting/pynmeagps, tests/pygpsdata-nmeastartup.log.
UBLOX_STARTUP_NO_FIX = [
    "$GNRMC,,V,,,,,,,,,,N,V*37",
    "$GNVTG,,,,,,,,,N*2E",
    "$GNGGA,,,,,,0,00,99.99,,,,,,*56",
    "$GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,1*33",
    "$GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,2*30",
    "$GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,3*31",
    "$GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,4*36",
    "$GPGSV,1,1,00,1*64",
    "$GLGSV,1,1,00,1*78",
    "$GAGSV,1,1,00,7*73",
    "$GBGSV,1,1,00,1*76",
    "$GNGLL,,,,,,V,N*7A",
]

# Unicore UM981: RMC with navigational status C (caution), two epochs, the second GGA only.
# Its GLL writes a minus sign into the longitude; GLL is not read for positions.
# Source: github.com/semuconsulting/pynmeagps, tests/pygpsdata-um981.log.
UNICORE_UM981 = [
    "$GNGGA,130058.00,5327.03598945,N,00214.41467156,W,1,08,7.5,36.3017,M,51.6775,M,,*5B",
    "$GNGLL,5327.03598945,N,-0214.41467156,W,130058.00,A,A*7E",
    "$GNRMC,130058.00,A,5327.03598945,N,00214.41467156,W,0.097,125.7,240226,0.2,W,A,C*4F",
    "$GNGGA,130059.00,5327.03598242,N,00214.41468053,W,1,08,7.5,36.3232,M,51.6775,M,,*58",
    "$GNGLL,5327.03598242,N,-0214.41468053,W,130059.00,A,A*78",
]

# Lines that carry no fix a decoder should read, each as a module prints it.
NON_FIX_LINES = [
    # Quectel LG290P/LC29H proprietary output (antenna, jamming, error estimate, version...).
    # Source: github.com/semuconsulting/pynmeagps, tests/quectel_nmea_get.log.
    "$PQTMANTENNASTATUS,1,1,1*4E",
    "$PQTMJAMMINGSTATUS,1,1*47",
    "$PQTMGEOFENCESTATUS,1,124521.000,1,2,2,2*27",
    "$PQTMSVINSTATUS,1,1000,1,,01,20,100,-2484434.3645,4875976.9741,3266161.3412,1.2415*3C",
    "$PQTMEPE,2,1.000,1.000,1.000,1.414,1.732*52",
    "$PQTMVERNO,LG290P03AANR01A03S,2024/04/30,10:53:07*18",
    "$PQTMTXT,1,01,01,01,0x105f0cf810417c00*1B",
    "$PQTMCFGRTKSRCTYPE,OK,1*78",
    # u-blox M9 NMEA 4.11: GBS, GRS, GST, VLW and the PUBX position/time lines.
    # Source: github.com/semuconsulting/pynmeagps, tests/pygpsdata-nmea4.log.
    "$GNGBS,103607.00,15.1,24.2,31.0,,,,,,*6F",
    "$GNGRS,103607.00,1,-2.1,0.2,2.7,-0.4,,,,,,,,,1,1*53",
    "$GNGST,103607.00,38,60,38,89,15,24,31*63",
    "$GNVLW,,N,,N,0.000,N,0.000,N*44",
    "$PUBX,00,103607.00,5327.03942,N,00214.42462,W,104.461,G3,29,31,0.085,39.63,-0.007,,5.88,"
    "7.62,8.09,6,0,0*69",
    "$PUBX,04,103607.00,060321,556567.00,2147,18,-384839,-53.623,16*2C",
    # u-blox M8 start-up banner. Source: github.com/adrianmo/go-nmea, txt_test.go.
    "$GNTXT,01,01,02,u-blox AG - www.u-blox.com*4E",
    # ATGM336H antenna status (first list above).
    "$GPTXT,01,01,01,ANTENNA OPEN*25",
]


def _decode(
    lines: list[str], newline: str = "\r\n", codec: NmeaCodec | None = None
) -> DecodeOutcome:
    payload = newline.join(lines).encode("ascii")
    return (codec or NmeaCodec()).decode(payload, RECEIVED, "gps-1")


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_atgm336h_epoch_is_one_fix_with_its_time_position_and_quality(newline: str) -> None:
    outcome = _decode(ATGM336H_EPOCH, newline)
    assert outcome.rejects == ()
    (fix,) = outcome.fixes
    assert fix.fix_time == datetime(2022, 5, 8, 13, 25, 6, tzinfo=UTC)
    assert fix.lat == pytest.approx(22 + 33.87430 / 60, abs=1e-9)  # 22.564572
    assert fix.lon == pytest.approx(114 + 7.13740 / 60, abs=1e-9)  # 114.118957
    assert (fix.satellites, fix.altitude_m) == (13, 103.3)
    assert fix.accuracy_m == pytest.approx(1.0 * 5.0)
    assert (fix.speed_mps, fix.course_deg) == (0.0, 244.71)
    assert fix.raw.splitlines() == [ATGM336H_EPOCH[0], ATGM336H_EPOCH[10]]


def test_ublox_startup_without_fix_gives_no_position_and_two_counted_no_fix_rejects() -> None:
    outcome = _decode(UBLOX_STARTUP_NO_FIX)
    assert outcome.fixes == ()
    assert [(r.reason, r.raw.decode()) for r in outcome.rejects] == [
        ("no fix: RMC status 'V'", "$GNRMC,,V,,,,,,,,,,N,V*37"),
        ("no fix: GGA quality 0", "$GNGGA,,,,,,0,00,99.99,,,,,,*56"),
    ]


def test_unicore_rmc_with_navigational_status_caution_is_a_fix_and_dates_the_next_gga() -> None:
    outcome = _decode(UNICORE_UM981)
    assert outcome.rejects == ()
    first, second = outcome.fixes
    assert first.fix_time == datetime(2026, 2, 24, 13, 0, 58, tzinfo=UTC)
    assert first.lat == pytest.approx(53 + 27.03598945 / 60, abs=1e-9)
    assert first.lon == pytest.approx(-(2 + 14.41467156 / 60), abs=1e-9)
    assert first.speed_mps == pytest.approx(0.097 * KNOT)
    assert first.course_deg == 125.7
    assert (first.satellites, first.altitude_m) == (8, 36.3017)
    assert first.accuracy_m == pytest.approx(7.5 * 5.0)
    assert second.fix_time == datetime(2026, 2, 24, 13, 0, 59, tzinfo=UTC)
    assert second.lat == pytest.approx(53 + 27.03598242 / 60, abs=1e-9)
    assert second.lon == pytest.approx(-(2 + 14.41468053 / 60), abs=1e-9)
    assert second.speed_mps is None


@pytest.mark.parametrize("line", NON_FIX_LINES)
def test_non_fix_line_of_a_current_module_is_skipped_without_a_reject(line: str) -> None:
    assert _decode([line]) == DecodeOutcome()


def test_quectel_fix_with_its_proprietary_lines_in_the_same_payload_is_taken_alone() -> None:
    # The first epoch of gpsd's Quectel LC79D log, followed by the PQTM lines an LG290P/LC29H
    # prints each second (antenna status, jamming status, error estimate).
    epoch = [s for s in gpsd_sentences("quectelLC79D-1.log") if ",080359.00," in s]
    assert [s[3:6] for s in epoch] == ["RMC", "GGA", "GLL"]
    alone = _decode(epoch)
    outcome = _decode([*epoch, *NON_FIX_LINES[:5]])
    assert outcome.rejects == ()
    assert outcome.fixes == alone.fixes
    assert outcome.fixes[0].fix_time == datetime(2020, 11, 30, 8, 3, 59, tzinfo=UTC)


def test_leading_tracker_id_and_mixed_line_ends_do_not_change_the_fix() -> None:
    lines = [f"865067020012345{line}" for line in ATGM336H_EPOCH]
    payload = ("\r\n".join(lines[:7]) + "\n" + "\n".join(lines[7:]) + "\r\n").encode("ascii")
    outcome = NmeaCodec().decode(payload, RECEIVED)
    assert outcome.rejects == ()
    (fix,) = outcome.fixes
    assert fix.device_id == "865067020012345"
    assert fix.fix_time == datetime(2022, 5, 8, 13, 25, 6, tzinfo=UTC)


def test_a_payload_ending_in_its_c_strings_nul_is_the_same_fix_without_a_reject() -> None:
    """A terminal written in C publishes ``strlen + 1`` bytes (docs/device-contract.md,
    "Terminators"): the NULs after the last line are not a sentence of their own."""
    alone = _decode(ATGM336H_EPOCH)
    codec = NmeaCodec()
    payload = ("\r\n".join(ATGM336H_EPOCH) + "\r\n").encode("ascii")
    for ending in (b"\x00", b"\x00\x00", b""):
        assert codec.decode(payload.rstrip(b"\r\n") + ending, RECEIVED, "gps-1") == alone
        assert codec.decode(payload + ending, RECEIVED, "gps-1") == alone
