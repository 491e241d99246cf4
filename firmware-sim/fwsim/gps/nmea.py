"""NMEA 0183 sentences (RMC + GGA) as a GNSS receiver prints them, published on
``devices/<id>/nmea``.

Layout (NMEA 0183 v2.3/4.x):

``$<tt>RMC,hhmmss.sss,A,ddmm.mmmm,N|S,dddmm.mmmm,E|W,<knots>,<course>,ddmmyy,,,A*CS``
``$<tt>GGA,hhmmss.sss,ddmm.mmmm,N|S,dddmm.mmmm,E|W,1,<sats>,<hdop>,<alt>,M,<geoid>,<M>,,<station>*CS``

The talker ``tt`` is ``GP`` (GPS), ``GN`` (multi-constellation) or ``BD``/``GB`` (BeiDou). The
checksum is the XOR of every character between ``$`` and ``*``, written as two upper-case hex
digits; every sentence ends with CR LF. The magnetic-variation fields are left empty (receivers
without a magnetic model do that). ``mode_indicator=False`` gives the pre-2.3 RMC without the
final mode field.

HDOP is not something a phone or tracker reports, so it is derived from the accuracy:
``hdop = accuracy_m / 5`` (a 5 m user-equivalent range error, typical of open sky); the
gateway estimates accuracy from HDOP the other way round. SOS cannot be carried in NMEA.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fwsim.gps.fix import SimFix

__all__ = [
    "HDOP_UERE_M",
    "TALKERS",
    "encode_nmea",
    "format_lat",
    "format_lon",
    "gga_sentence",
    "nmea_checksum",
    "nmea_topic",
    "rmc_sentence",
]

HDOP_UERE_M = 5.0
"""Metres of horizontal accuracy per unit of HDOP used to derive HDOP from accuracy."""

TALKERS = frozenset({"GP", "GN", "BD", "GB", "GL", "GA"})
_KNOTS_PER_MPS = 3600.0 / 1852.0


def nmea_topic(device_id: str, prefix: str = "devices") -> str:
    """The topic an NMEA terminal publishes on."""
    return f"{prefix}/{device_id}/nmea"


def nmea_checksum(body: str) -> str:
    """XOR of the characters of ``body`` (the text between ``$`` and ``*``), as upper-case hex."""
    value = 0
    for byte in body.encode("ascii"):
        value ^= byte
    return f"{value:02X}"


def _sentence(body: str) -> str:
    return f"${body}*{nmea_checksum(body)}\r\n"


def _angle(value: float, degree_digits: int, decimals: int) -> str:
    # Round the minutes first: 59.99996' must carry into the degrees, not print as 60.0000.
    scale = 10**decimals
    total = round(abs(value) * 60.0 * scale)
    degrees, minutes_scaled = divmod(total, 60 * scale)
    minutes = minutes_scaled / scale
    width = 3 + decimals if decimals else 2
    return f"{degrees:0{degree_digits}d}{minutes:0{width}.{decimals}f}"


def format_lat(lat: float, decimals: int = 4) -> tuple[str, str]:
    """Latitude as (``ddmm.mmmm``, ``N``/``S``)."""
    return _angle(lat, 2, decimals), ("S" if lat < 0 else "N")


def format_lon(lon: float, decimals: int = 4) -> tuple[str, str]:
    """Longitude as (``dddmm.mmmm``, ``E``/``W``)."""
    return _angle(lon, 3, decimals), ("W" if lon < 0 else "E")


def _time(when: datetime, decimals: int) -> str:
    t = when.astimezone(UTC)
    text = t.strftime("%H%M%S")
    if decimals:
        fraction = f"{t.microsecond:06d}"[:decimals]
        text += "." + fraction
    return text


def _check_talker(talker: str) -> None:
    if talker not in TALKERS:
        raise ValueError(f"unknown NMEA talker {talker!r}; expected one of {sorted(TALKERS)}")


def rmc_sentence(
    fix: SimFix, talker: str = "GP", *, time_decimals: int = 3, mode_indicator: bool = True
) -> str:
    """The RMC (recommended minimum) sentence of ``fix``, CR LF included."""
    _check_talker(talker)
    lat, ns = format_lat(fix.lat)
    lon, ew = format_lon(fix.lon)
    fields = [
        f"{talker}RMC",
        _time(fix.time, time_decimals),
        "A",
        lat,
        ns,
        lon,
        ew,
        f"{fix.speed_mps * _KNOTS_PER_MPS:.2f}",
        f"{round(fix.course_deg % 360.0, 2) % 360.0:.2f}",  # 359.999 -> 0.00, not 360.00
        fix.time.astimezone(UTC).strftime("%d%m%y"),
        "",
        "",
    ]
    if mode_indicator:
        fields.append("A")
    return _sentence(",".join(fields))


def gga_sentence(
    fix: SimFix,
    talker: str = "GP",
    *,
    time_decimals: int = 3,
    geoid_separation_m: float | None = None,
    dgps_station: str = "",
) -> str:
    """The GGA (fix data) sentence of ``fix``, CR LF included. Fix quality is 1 (GPS fix)."""
    _check_talker(talker)
    lat, ns = format_lat(fix.lat)
    lon, ew = format_lon(fix.lon)
    fields = [
        f"{talker}GGA",
        _time(fix.time, time_decimals),
        lat,
        ns,
        lon,
        ew,
        "1",
        "" if fix.satellites is None else f"{fix.satellites:02d}",
        f"{fix.accuracy_m / HDOP_UERE_M:.1f}",
        f"{fix.altitude_m:.1f}",
        "M",
        "" if geoid_separation_m is None else f"{geoid_separation_m:.1f}",
        "" if geoid_separation_m is None else "M",
        "",
        dgps_station,
    ]
    return _sentence(",".join(fields))


def encode_nmea(fix: SimFix, talker: str = "GP") -> bytes:
    """One fix as an RMC sentence followed by a GGA sentence (ASCII, CR LF after each)."""
    return (rmc_sentence(fix, talker) + gga_sentence(fix, talker)).encode("ascii")
