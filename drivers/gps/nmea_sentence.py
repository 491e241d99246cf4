"""One NMEA 0183 sentence: checksum, address, and the three sentences that carry a position.

Rules (each checked against the golden corpus in ``tests/corpus/nmea``):

* The checksum ``*HH`` is **required** (hex, either case) and must match the XOR of the bytes
  between ``$`` and ``*``. gpsd drops sentences without one (its MTK log's ``$POLYN`` lines never
  reach its output); a sentence torn in transit usually loses its tail, so a missing checksum
  is the cheapest corruption detector we have.
* The leading ``$`` may be missing when surrounding whitespace is all that is around the
  sentence (pynmea2 accepts that). Many trackers put their own id before it
  (``865067020012345$GPRMC,...``): a single word of letters, digits, ``.``, ``_``, ``-`` right
  before ``$`` is kept as :attr:`Sentence.device_prefix`; any other text before ``$`` is garbage.
* Any talker (GP, GN, GL, GA, BD, GB, GQ, GI, ...) is accepted for RMC, GGA and GNS. Other
  sentences and proprietary ``$P...`` sentences (``$PUBX``, ``$PQTM...``, ``$PCAS``, whatever
  the length of their address) are valid but ignored.
* RMC is a position only when status is ``A`` and the NMEA 2.3 mode (if present) is one of
  ``A D F P R``: autonomous, differential, RTK float, precise, RTK integer, all measurements.
  The other letters are refused, each under its own reason (so its own counter):

  - ``S`` (simulator) is a receiver in demo mode or an app's fake GPS replaying a track: a
    well-formed sentence that is evidence of nothing, and the cheapest way to forge presence.
    ``simulated fix: ...`` (:class:`SimulatedFix`); it also condemns the other sentences of its
    epoch (a fake-GPS app may print ``S`` in RMC beside a GGA of quality 1).
  - ``E`` (estimated, dead reckoning) and ``M`` (manual input) are ``estimated position`` and
    ``manual position``. NMEA 0183 (2.3 to 4.11, note to the mode indicator) says the status
    "shall be set to V for all values of mode indicator except A and D" (4.x adds F, P, R):
    the standard itself calls them invalid, though some modules send ``A`` beside ``E``. A
    dead-reckoned point is the last fix pushed along the last velocity: it says where the
    guard would be had he kept walking, which is the very question the gateway must answer
    from measurements. pynmea2 accepts ``E`` and ``M``; we do not.
  - ``N`` (not valid) or an empty mode is ``no fix``.
* The 13th RMC field of NMEA 4.10/4.11, the navigational status (``S`` safe, ``C`` caution,
  ``U`` unsafe, ``V`` not valid / no status), is an integrity statement for navigation, not the
  fix status: receivers without integrity monitoring (every current Quectel, u-blox, Unicore
  module) always send ``V`` next to a valid fix. It is ignored, as gpsd does; pynmea2 counts
  ``V`` and an empty field as invalid.
* GGA is a position when its quality is 1-5 (GPS, DGPS, PPS, RTK, float RTK). 0 is no fix,
  6 an estimated (dead-reckoning) position, 7 manual input and 8 simulation mode, refused with
  the same reasons as the RMC modes ``N``, ``E``, ``M`` and ``S``.
* GNS (NMEA 4.0+) has one mode letter per constellation (GPS, GLONASS, Galileo, BeiDou, QZSS,
  NavIC). Any ``S`` makes it simulated; otherwise it is a position when at least one letter is
  ``A D F P R``, and refused as estimated, manual or no fix by the best of the rest. gpsd reads
  only the first (GPS) letter; a GLONASS + Galileo fix with GPS ``N`` is still a fix. Its
  navigational status (13th field) is ignored as RMC's.
* GLL and VTG are not read for positions, but their mode ``S`` is refused like RMC's (and
  condemns its epoch: GLL's by its time, VTG's, which has no time, the epoch it follows).
* Coordinates must have minutes below 60 (MTK receivers emit ``8960.000000,N`` = "90°N" as a
  power-up placeholder) and lie within ±90/±180.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, time

from gateway.errors import DecodeError

__all__ = [
    "GgaData",
    "RmcData",
    "Sentence",
    "SimulatedFix",
    "dm_to_degrees",
    "parse_gga",
    "parse_gns",
    "parse_rmc",
    "parse_sentence",
    "parse_time_of_day",
    "position_of",
    "refuse_simulator",
    "time_field",
]

KNOTS_TO_MPS = 1852.0 / 3600.0
_VALID_MODES = frozenset("ADFPR")
_SIMULATOR_MODE = "S"
_KNOWN_GNS_MODES = frozenset("ADEFMNPRS")
_VALID_GGA_QUALITY = frozenset({1, 2, 3, 4, 5})
# GGA quality → the mode letter of the same meaning (NMEA 0183: 6 estimated, 7 manual, 8 simulator).
_GGA_QUALITY_MODE = {6: "E", 7: "M", 8: "S"}
# Field index of the mode indicator and of the time, where the sentence has them.
_MODE_FIELD = {"GLL": 7, "VTG": 9}
_TIME_FIELD = {"RMC": 1, "GGA": 1, "GNS": 1, "GLL": 5}
_ADDRESS = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
# A proprietary address is 'P', the maker's mnemonic and its own sentence name, of no length
# NMEA fixes: Quectel's run to 18 characters ($PQTMJAMMINGSTATUS, $PQTMCFGRTKSRCTYPE). Bounded
# only so that a torn line's text is not taken for one.
_PROPRIETARY_ADDRESS = re.compile(r"^P[A-Z0-9]{1,31}$")
# A tracker's id before '$': one word, as device ids are (docs/device-contract.md). Anything
# else there (a torn sentence's tail has ',' or '*') stays garbage.
_DEVICE_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Sentence:
    """A checksum-verified sentence: ``talker`` (``GP``, or ``P`` for proprietary), ``kind``.

    ``text`` is the whole line as received (id prefix included: it is the evidence);
    ``device_prefix`` the id a tracker wrote before ``$``, else ``None``.
    """

    talker: str
    kind: str
    fields: tuple[str, ...]
    text: str
    device_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class RmcData:
    """A valid RMC: a fix with date; speed in m/s and course in degrees when given."""

    time_of_day: time
    day: date
    lat: float
    lon: float
    speed_mps: float | None
    course_deg: float | None


@dataclass(frozen=True, slots=True)
class GgaData:
    """A valid GGA or GNS (``kind``): a fix without date, with satellites, HDOP and altitude
    (MSL, metres)."""

    time_of_day: time
    lat: float
    lon: float
    satellites: int | None
    hdop: float | None
    altitude_m: float | None
    kind: str = "GGA"


class SimulatedFix(DecodeError):
    """A sentence from a receiver in simulator mode (module docstring).

    ``time_of_day`` names its epoch, whose other sentences are refused with it; ``None`` for a
    sentence without a time (VTG), which belongs to the epoch it follows.
    """

    def __init__(self, reason: str, time_of_day: time | None) -> None:
        super().__init__(reason)
        self.time_of_day = time_of_day


def _lenient_time(value: str) -> time | None:
    try:
        return parse_time_of_day(value)
    except DecodeError:
        return None


def _refuse_mode(kind: str, mode: str, when: str, field: str | None = None) -> DecodeError:
    """The error refusing a sentence whose mode says it is no measurement (module docstring).

    ``when`` is its time field, naming the epoch a simulated sentence condemns; ``field`` how
    the reason shows the mode (GGA's quality number), else ``mode 'X'``.
    """
    shown = field or (f"mode {mode!r}" if mode else "mode 'empty'")
    if _SIMULATOR_MODE in mode:
        reason = f"simulated fix: {kind} {shown} (receiver in simulator mode)"
        return SimulatedFix(reason, _lenient_time(when))
    if "E" in mode:
        return DecodeError(f"estimated position: {kind} {shown} (dead reckoning)")
    if "M" in mode:
        return DecodeError(f"manual position: {kind} {shown} (typed in, not measured)")
    return DecodeError(f"no fix: {kind} {shown}")


def time_field(sentence: Sentence) -> time | None:
    """The time of day a sentence states, read leniently (``None`` if it has none or a bad
    one): the epoch it belongs to, whether or not it is a position."""
    index = _TIME_FIELD.get(sentence.kind)
    if index is None or len(sentence.fields) <= index:
        return None
    return _lenient_time(sentence.fields[index])


def refuse_simulator(sentence: Sentence) -> None:
    """Raise :class:`SimulatedFix` when a GLL or VTG (not read for positions) has mode ``S``."""
    index = _MODE_FIELD.get(sentence.kind)
    f = sentence.fields
    if index is None or len(f) <= index or f[index] != _SIMULATOR_MODE:
        return
    when = f[_TIME_FIELD[sentence.kind]] if sentence.kind in _TIME_FIELD else ""
    raise _refuse_mode(sentence.kind, _SIMULATOR_MODE, when)


def _checksum(body: str) -> int:
    value = 0
    for char in body.encode("ascii"):
        value ^= char
    return value


def parse_sentence(line: str) -> Sentence:
    """Verify and split one line. Raises :class:`DecodeError` with the reason."""
    text = line.strip()
    if not text:
        raise DecodeError("empty line")
    prefix: str | None = None
    if text[0] in "$!":
        body_and_sum = text[1:]
    elif "$" in text:
        head, _, body_and_sum = text.partition("$")
        if not _DEVICE_PREFIX.match(head):
            raise DecodeError("garbage before '$'")
        prefix = head
    else:
        body_and_sum = text
    star = body_and_sum.rfind("*")
    if star < 0:
        raise DecodeError("missing checksum")
    body, given = body_and_sum[:star], body_and_sum[star + 1 :]
    if len(given) != 2 or any(c not in "0123456789abcdefABCDEF" for c in given):
        raise DecodeError(f"malformed checksum {given!r}")
    fields = tuple(body.split(","))
    address = fields[0]
    if not (_ADDRESS.match(address) or _PROPRIETARY_ADDRESS.match(address)):
        raise DecodeError(f"garbage, not an NMEA sentence (address {address[:12]!r})")
    computed = _checksum(body)
    if int(given, 16) != computed:
        raise DecodeError(
            f"checksum mismatch (sentence says {given.upper()}, computed {computed:02X})"
        )
    if address.startswith("P"):
        return Sentence("P", address[1:], fields, text, prefix)
    if len(address) != 5:
        raise DecodeError(f"not an NMEA sentence (address {address!r})")
    return Sentence(address[:2], address[2:], fields, text, prefix)


def parse_time_of_day(value: str) -> time:
    """``hhmmss`` with optional fraction (kept to the microsecond, truncated)."""
    match = re.fullmatch(r"(\d{2})(\d{2})(\d{2})(?:\.(\d+))?", value)
    if not match:
        raise DecodeError(f"bad time {value!r}")
    hh, mm, ss, frac = match.groups()
    micro = int((frac or "").ljust(6, "0")[:6])
    try:
        return time(int(hh), int(mm), int(ss), micro)
    except ValueError as exc:
        raise DecodeError(f"bad time {value!r}") from exc


def dm_to_degrees(value: str) -> float:
    """NMEA ``[d]ddmm.mmmm`` to degrees. Raises when the minutes are 60 or more."""
    try:
        number = float(value)
    except ValueError as exc:
        raise DecodeError(f"bad coordinate {value!r}") from exc
    if number < 0 or not math.isfinite(number):
        raise DecodeError(f"bad coordinate {value!r}")
    degrees = int(number // 100)
    minutes = number - degrees * 100
    if minutes >= 60.0:
        raise DecodeError(f"bad coordinate {value!r} (minutes >= 60, a receiver placeholder)")
    return degrees + minutes / 60.0


def position_of(lat: str, ns: str, lon: str, ew: str) -> tuple[float, float]:
    """Signed degrees from the four NMEA fields; empty fields mean no fix."""
    if not (lat and ns and lon and ew):
        raise DecodeError("no fix: empty position fields")
    if ns not in ("N", "S") or ew not in ("E", "W"):
        raise DecodeError(f"bad hemisphere {ns!r}/{ew!r}")
    lat_deg = dm_to_degrees(lat) * (-1 if ns == "S" else 1)
    lon_deg = dm_to_degrees(lon) * (-1 if ew == "W" else 1)
    if abs(lat_deg) > 90 or abs(lon_deg) > 180:
        raise DecodeError(f"coordinates {lat_deg:.6f},{lon_deg:.6f} out of range")
    return lat_deg, lon_deg


def _opt_float(value: str, name: str) -> float | None:
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise DecodeError(f"bad {name} {value!r}") from exc
    if not math.isfinite(number):  # float() reads "nan" and "inf"; no receiver means them
        raise DecodeError(f"bad {name} {value!r}")
    return number


def parse_rmc(sentence: Sentence) -> RmcData:
    """The position of an RMC, or :class:`DecodeError` (``no fix: ...`` when it has none)."""
    f = sentence.fields
    if len(f) < 10:
        raise DecodeError(f"RMC has {len(f) - 1} fields, expected at least 9")
    status = f[2]
    if status != "A":
        raise DecodeError(f"no fix: RMC status {status or 'empty'!r}")
    if len(f) > 12 and f[12] not in _VALID_MODES:
        raise _refuse_mode("RMC", f[12], f[1])
    # f[13], the NMEA 4.10 navigational status, is not the fix status (module docstring).
    tod = parse_time_of_day(f[1])
    lat, lon = position_of(f[3], f[4], f[5], f[6])
    day_text = f[9]
    match = re.fullmatch(r"(\d{2})(\d{2})(\d{2})", day_text)
    if not match:
        raise DecodeError(f"bad RMC date {day_text!r}")
    dd, mo, yy = (int(g) for g in match.groups())
    try:
        # Two-digit years: 80-99 are the 1900s, as in gpsd and pynmea2.
        day = date((1900 if yy >= 80 else 2000) + yy, mo, dd)
    except ValueError as exc:
        raise DecodeError(f"bad RMC date {day_text!r}") from exc
    knots = _opt_float(f[7], "speed")
    return RmcData(
        time_of_day=tod,
        day=day,
        lat=lat,
        lon=lon,
        speed_mps=knots * KNOTS_TO_MPS if knots is not None else None,
        course_deg=_opt_float(f[8], "course"),
    )


def parse_gga(sentence: Sentence) -> GgaData:
    """The position of a GGA, or :class:`DecodeError` (``no fix: ...`` when it has none)."""
    f = sentence.fields
    if len(f) < 10:
        raise DecodeError(f"GGA has {len(f) - 1} fields, expected at least 9")
    try:
        quality = int(f[6]) if f[6] else 0
    except ValueError as exc:
        raise DecodeError(f"bad GGA quality {f[6]!r}") from exc
    if quality in _GGA_QUALITY_MODE:
        raise _refuse_mode("GGA", _GGA_QUALITY_MODE[quality], f[1], f"quality {quality}")
    if quality not in _VALID_GGA_QUALITY:
        raise DecodeError(f"no fix: GGA quality {quality}")
    tod = parse_time_of_day(f[1])
    lat, lon = position_of(f[2], f[3], f[4], f[5])
    return GgaData(
        time_of_day=tod,
        lat=lat,
        lon=lon,
        satellites=_opt_count(f[7]),
        hdop=_opt_float(f[8], "HDOP"),
        altitude_m=_opt_float(f[9], "altitude"),
    )


def parse_gns(sentence: Sentence) -> GgaData:
    """The position of a GNS, or :class:`DecodeError` (``no fix: ...`` when it has none).

    Fields: time, lat, N/S, lon, E/W, mode letters, satellites, HDOP, altitude (MSL), geoid
    separation, age and station of corrections, and (NMEA 4.10) the navigational status.
    """
    f = sentence.fields
    if len(f) < 10:
        raise DecodeError(f"GNS has {len(f) - 1} fields, expected at least 9")
    modes = f[6]
    if any(m not in _KNOWN_GNS_MODES for m in modes):
        raise DecodeError(f"bad GNS mode letters: {modes[:8]!r}")
    if _SIMULATOR_MODE in modes or not any(m in _VALID_MODES for m in modes):
        raise _refuse_mode("GNS", modes, f[1])
    tod = parse_time_of_day(f[1])
    lat, lon = position_of(f[2], f[3], f[4], f[5])
    return GgaData(
        time_of_day=tod,
        lat=lat,
        lon=lon,
        satellites=_opt_count(f[7]),
        hdop=_opt_float(f[8], "HDOP"),
        altitude_m=_opt_float(f[9], "altitude"),
        kind="GNS",
    )


def _opt_count(value: str) -> int | None:
    number = _opt_float(value, "satellite count")
    if number is not None and number < 0:
        raise DecodeError(f"bad satellite count {value!r}")
    return int(number) if number is not None else None
