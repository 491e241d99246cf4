"""NMEA decoder behaviour beyond the corpus: dating GGA, per-device state, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import reduce

from drivers.gps.nmea import NmeaCodec
from tests.unit.drivers.gps.corpus_data import PYNMEA2

GGA_1843 = PYNMEA2["cases"][0]["sentence"]  # 18:43:53.07, no date


def sentence(body: str) -> str:
    """A hand-made sentence with its checksum (input for behaviour tests only)."""
    return f"${body}*{reduce(lambda a, c: a ^ ord(c), body, 0):02X}"


def gga(time_of_day: str) -> str:
    return sentence(f"GPGGA,{time_of_day},3035.568,N,11418.330,E,1,08,1.0,25.0,M,-10.0,M,,")


def rmc(time_of_day: str, day: str) -> str:
    return sentence(f"GNRMC,{time_of_day},A,3035.568,N,11418.330,E,1.0,90.0,{day},,,A")


def test_gga_without_any_rmc_takes_the_received_date() -> None:
    received = datetime(2026, 3, 1, 19, 0, tzinfo=UTC)
    (fix,) = NmeaCodec().decode(GGA_1843.encode(), received, "t1").fixes
    assert fix.fix_time == datetime(2026, 3, 1, 18, 43, 53, 70000, tzinfo=UTC)


def test_gga_just_before_midnight_received_just_after_is_dated_the_day_before() -> None:
    received = datetime(2026, 3, 2, 0, 0, 2, tzinfo=UTC)
    (fix,) = NmeaCodec().decode(gga("235959.00").encode(), received, "t1").fixes
    assert fix.fix_time == datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)


def test_gga_just_after_midnight_received_just_before_is_dated_the_day_after() -> None:
    received = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)  # gateway clock slightly behind
    (fix,) = NmeaCodec().decode(gga("000001.00").encode(), received, "t1").fixes
    assert fix.fix_time == datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC)


def test_gga_takes_the_date_of_the_devices_last_rmc_from_an_earlier_payload() -> None:
    codec = NmeaCodec()
    received = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    codec.decode(rmc("235958.00", "150624").encode(), received, "t1")
    (fix,) = codec.decode(gga("000003.00").encode(), received, "t1").fixes
    # Stored log replayed: the RMC said 2024-06-15 23:59:58, so 00:00:03 is the next day.
    assert fix.fix_time == datetime(2024, 6, 16, 0, 0, 3, tzinfo=UTC)
    (other,) = codec.decode(gga("000003.00").encode(), received, "t2").fixes
    assert other.fix_time == datetime(2026, 3, 1, 0, 0, 3, tzinfo=UTC)  # another device


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


def test_dead_reckoning_and_manual_fixes_are_not_positions() -> None:
    received = datetime(2026, 3, 1, tzinfo=UTC)
    estimated = sentence("GPRMC,101010.00,A,3035.568,N,11418.330,E,1.0,90.0,010326,,,E")
    manual_gga = sentence("GPGGA,101010.00,3035.568,N,11418.330,E,7,00,,25.0,M,,M,,")
    for text in (estimated, manual_gga):
        outcome = NmeaCodec().decode(text.encode(), received, "t1")
        assert outcome.fixes == ()
        assert outcome.rejects[0].reason.startswith("no fix")


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
