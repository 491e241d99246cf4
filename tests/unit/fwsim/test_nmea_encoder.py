"""NMEA encoder against real receiver logs (gpsd's regression corpus) and pynmea2's vectors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fwsim.gps.fix import SimFix
from fwsim.gps.nmea import (
    HDOP_UERE_M,
    encode_nmea,
    format_lat,
    format_lon,
    gga_sentence,
    nmea_checksum,
    rmc_sentence,
)

KNOT_MPS = 1852.0 / 3600.0


def _accepted_sentences(corpus: Path) -> list[str]:
    """Sentences gpsd echoed in its regression output, i.e. ones it accepted."""
    sentences = []
    for chk in sorted((corpus / "nmea" / "gpsd").glob("*.chk")):
        for line in chk.read_text(encoding="latin-1").splitlines():
            if line.startswith("$") and "*" in line:
                sentences.append(line.strip())
    return sentences


def _tpv_after(corpus: Path, log: str, sentence: str) -> dict[str, Any]:
    lines = (corpus / "nmea" / "gpsd" / f"{log}.chk").read_text(encoding="latin-1").splitlines()
    at = lines.index(sentence)
    for line in lines[at + 1 :]:
        if line.startswith("$"):
            break
        if '"class":"TPV"' in line:
            tpv: dict[str, Any] = json.loads(line)
            return tpv
    raise AssertionError(f"no TPV after {sentence}")


def _fix(tpv: dict[str, Any], **kw: Any) -> SimFix:
    values: dict[str, Any] = {
        "device_id": "gps-1",
        "time": datetime.fromisoformat(tpv["time"].replace("Z", "+00:00")),
        "lat": tpv["lat"],
        "lon": tpv["lon"],
        "accuracy_m": 5.0,
        "speed_mps": tpv.get("speed", 0.0),
        "course_deg": tpv.get("track", 0.0),
        "altitude_m": tpv.get("altMSL", 0.0),
        "satellites": None,
        "battery_pct": None,
    }
    values.update(kw)
    return SimFix(**values)


def test_checksum_agrees_with_every_sentence_gpsd_accepted(corpus: Path) -> None:
    sentences = _accepted_sentences(corpus)
    assert len(sentences) > 100
    for sentence in sentences:
        body, _, stated = sentence[1:].rpartition("*")
        assert nmea_checksum(body) == stated.upper(), sentence


def test_checksum_agrees_with_pynmea2_valid_cases_and_flags_bad_ones(corpus: Path) -> None:
    cases = json.loads((corpus / "nmea" / "pynmea2_cases.json").read_text())["cases"]
    good = bad = 0
    for case in cases:
        sentence = case["sentence"].strip()
        if "*" not in sentence or not sentence.startswith("$"):
            continue
        body, _, stated = sentence[1:].rpartition("*")
        if case["checksum"] == "ok":
            assert nmea_checksum(body) == stated.upper(), sentence
            good += 1
        elif case["checksum"].startswith("bad"):
            assert nmea_checksum(body) != stated.upper(), sentence
            bad += 1
    assert good >= 10 and bad >= 1


def test_rmc_and_gga_match_sirf_trig_receiver_byte_for_byte(corpus: Path) -> None:
    # Shanghai, SiRF-TriG: GN talker for RMC, GP for GGA, NMEA 2.3 mode field, geoid 8.3 m.
    rmc = "$GNRMC,053233.438,A,3114.8821,N,12135.2428,E,0.07,167.42,020315,,,A*73"
    gga = "$GPGGA,053233.438,3114.8821,N,12135.2428,E,1,06,1.2,167.2,M,8.3,M,,0000*67"
    fix = _fix(_tpv_after(corpus, "beidou-gb.log", rmc), satellites=6, accuracy_m=1.2 * HDOP_UERE_M)
    assert rmc_sentence(fix, "GN") == rmc + "\r\n"
    assert gga_sentence(fix, "GP", geoid_separation_m=8.3, dgps_station="0000") == gga + "\r\n"


def test_pre_nmea_2_3_rmc_and_gga_match_itrek_receiver_byte_for_byte(corpus: Path) -> None:
    rmc = "$GPRMC,045851.000,A,3519.9046,N,13640.2631,E,0.12,114.35,270705,,*0B"
    gga = "$GPGGA,045851.000,3519.9046,N,13640.2631,E,1,04,2.2,80.4,M,,,,0000*39"
    tpv = _tpv_after(corpus, "iTrek.log", rmc)
    fix = _fix(tpv, satellites=4, accuracy_m=2.2 * HDOP_UERE_M)
    assert rmc_sentence(fix, "GP", mode_indicator=False) == rmc + "\r\n"
    assert gga_sentence(fix, "GP", dgps_station="0000") == gga + "\r\n"


def _simple(lat: float, lon: float) -> SimFix:
    return SimFix(
        device_id="gps-1",
        time=datetime(2025, 3, 1, 23, 59, 59, 250000, tzinfo=UTC),
        lat=lat,
        lon=lon,
        accuracy_m=8.0,
        speed_mps=1.4,
        course_deg=359.999,
        altitude_m=23.0,
        satellites=9,
        battery_pct=None,
    )


def test_southern_western_coordinates_use_s_and_w_with_unsigned_ddmm() -> None:
    assert format_lat(-19.484083333) == ("1929.0450", "S")
    assert format_lon(-24.1751) == ("02410.5060", "W")
    assert format_lon(2.5) == ("00230.0000", "E")


def test_minutes_rounding_up_to_sixty_carries_into_degrees() -> None:
    assert format_lat(30.999999999) == ("3100.0000", "N")
    assert format_lon(113.9999999) == ("11400.0000", "E")


def test_payload_is_rmc_then_gga_crlf_terminated_with_configured_talker() -> None:
    payload = encode_nmea(_simple(30.5928, 114.3055), "BD").decode("ascii")
    lines = payload.split("\r\n")
    assert lines[2] == "" and len(lines) == 3
    rmc, gga = lines[0].split(","), lines[1].split(",")
    assert rmc[0] == "$BDRMC" and gga[0] == "$BDGGA"
    assert rmc[1] == gga[1] == "235959.250"
    assert rmc[9] == "010325"
    assert rmc[8] == "0.00"  # 359.999 degrees rounds to north, never "360.00"
    assert rmc[7] == f"{1.4 / KNOT_MPS:.2f}" == "2.72"
    assert gga[7] == "09" and gga[8] == "1.6"  # 8 m / 5 m
    for line in lines[:2]:
        body, _, check = line[1:].partition("*")
        assert check == nmea_checksum(body) and check == check.upper()


def test_unknown_talker_is_refused() -> None:
    with pytest.raises(ValueError, match="talker"):
        rmc_sentence(_simple(30.0, 114.0), "XX")
