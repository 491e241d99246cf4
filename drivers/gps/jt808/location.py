"""JT/T 808 location bodies: 0x0200 (one report) and 0x0704 (a batch), and their fixes.

0x0200 base, 28 bytes: alarm DWORD | status DWORD | latitude DWORD | longitude DWORD |
altitude WORD (m) | speed WORD (0.1 km/h) | direction WORD (degrees) | time BCD[6] YYMMDDhhmmss
in GMT+8. Latitude and longitude are unsigned degrees x 1e6; status bit 2 means south and bit 3
west; bit 1 means "located" (a fix). Additional items follow as TLVs (id BYTE, length BYTE,
value); the battery level and vendor alarms are read from them (:mod:`.additions`). Real
terminals append vendor items that break the TLV chain; the base is kept and the broken tail
dropped (logged), since the base alone is a complete position.

What a report becomes (:func:`report_record`): a located report with a valid position and time
is a ``PositionFix`` carrying its alarms and battery. A report that gives no fix (located bit
clear, as indoors; a 0,0 placeholder; a bad time) but raises an alarm is an ``AlarmSignal``, so
an SOS is never lost for want of a fix. Only a report with neither is a ``Rejected``.

0x0704: count WORD | type BYTE (0 normal, 1 blind-area re-upload of positions stored offline) |
count x (length WORD | 0x0200 body).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from drivers.gps.base import check_position
from drivers.gps.jt808.additions import battery_pct, vendor_alarms
from gateway.errors import DecodeError
from gateway.records import Alarm, AlarmSignal, PositionFix, Rejected

__all__ = [
    "BASE_LENGTH",
    "GMT8",
    "LocationBatch",
    "LocationReport",
    "alarms_from_flags",
    "bcd_time_gmt8",
    "parse_batch",
    "parse_location",
    "report_record",
]

logger = logging.getLogger(__name__)

BASE_LENGTH = 28
GMT8 = timezone(timedelta(hours=8))
_KMH_TO_MPS = 1000.0 / 3600.0

# Alarm flag bits (JT/T 808-2013 table 24) that mean something to a guard's supervisor.
_ALARM_BITS = {
    0: Alarm.SOS,  # emergency alarm, triggered by the alarm switch
    1: Alarm.OVERSPEED,
    4: Alarm.GNSS_FAULT,  # GNSS module fault
    7: Alarm.LOW_BATTERY,  # main power under-voltage
    8: Alarm.POWER_CUT,  # main power off
    # 2013 reserves bits 15-17 and vendors of personal terminals use 16 and 17 for their tamper
    # (case opened) alarm, as traccar reads them; the 2019 vehicle meanings of these bits (tyre
    # pressure, right-turn blind zone) come from ADAS units no guard wears.
    16: Alarm.TAMPER,
    17: Alarm.TAMPER,
}


@dataclass(frozen=True, slots=True)
class LocationReport:
    """A parsed 0x0200 body. ``additions`` maps item id to value bytes."""

    alarm: int
    status: int
    lat_raw: int
    lon_raw: int
    altitude_m: int
    speed_0_1kmh: int
    direction: int
    time_bcd: str
    additions: dict[int, bytes] = field(default_factory=dict)
    tail_error: str | None = None

    @property
    def located(self) -> bool:
        return bool(self.status & 0x02)

    @property
    def lat(self) -> float:
        return self.lat_raw / 1e6 * (-1 if self.status & 0x04 else 1)

    @property
    def lon(self) -> float:
        return self.lon_raw / 1e6 * (-1 if self.status & 0x08 else 1)

    def _u(self, item: int) -> int | None:
        value = self.additions.get(item)
        return int.from_bytes(value, "big") if value else None

    @property
    def mileage_0_1km(self) -> int | None:
        """Item 0x01, odometer in 0.1 km."""
        return self._u(0x01)

    @property
    def signal(self) -> int | None:
        """Item 0x30, wireless network signal strength."""
        return self._u(0x30)

    @property
    def satellites(self) -> int | None:
        """Item 0x31, GNSS satellites in use."""
        return self._u(0x31)

    @property
    def battery_pct(self) -> float | None:
        """The battery level the vendor items carry (:func:`.additions.battery_pct`)."""
        return battery_pct(self.additions.items())

    @property
    def alarms(self) -> frozenset[Alarm]:
        """The alarm DWORD's alarms and those of vendor items."""
        return alarms_from_flags(self.alarm) | vendor_alarms(self.additions.items())


@dataclass(frozen=True, slots=True)
class LocationBatch:
    """A parsed 0x0704 body: ``items`` are the parsed reports or, per bad item, the error."""

    count: int
    kind: int
    items: tuple[LocationReport | DecodeError, ...]
    item_bytes: tuple[bytes, ...]
    error: str | None = None


def parse_location(body: bytes) -> LocationReport:
    """Parse a 0x0200 body. Raises :class:`DecodeError` only when the 28-byte base is short."""
    if len(body) < BASE_LENGTH:
        raise DecodeError(f"location body too short ({len(body)} < {BASE_LENGTH} bytes)")

    def u(start: int, size: int) -> int:
        return int.from_bytes(body[start : start + size], "big")

    additions: dict[int, bytes] = {}
    tail_error = None
    pos = BASE_LENGTH
    while pos < len(body):
        if pos + 2 > len(body):
            tail_error = f"additional item header cut at offset {pos}"
            break
        item, length = body[pos], body[pos + 1]
        if pos + 2 + length > len(body):
            tail_error = (
                f"additional item 0x{item:02x} declares {length} bytes, {len(body) - pos - 2} left"
            )
            break
        additions[item] = bytes(body[pos + 2 : pos + 2 + length])
        pos += 2 + length
    if tail_error:
        logger.debug("0x0200 tail dropped: %s", tail_error)
    return LocationReport(
        alarm=u(0, 4),
        status=u(4, 4),
        lat_raw=u(8, 4),
        lon_raw=u(12, 4),
        altitude_m=u(16, 2),
        speed_0_1kmh=u(18, 2),
        direction=u(20, 2),
        time_bcd=body[22:28].hex(),
        additions=additions,
        tail_error=tail_error,
    )


def parse_batch(body: bytes) -> LocationBatch:
    """Parse a 0x0704 body; a bad item is kept as its error, a cut item list ends the batch."""
    if len(body) < 3:
        raise DecodeError("batch body too short")
    count = int.from_bytes(body[0:2], "big")
    kind = body[2]
    items: list[LocationReport | DecodeError] = []
    chunks: list[bytes] = []
    error = None
    pos = 3
    while pos < len(body):
        if pos + 2 > len(body):
            error = f"batch item length cut at offset {pos}"
            break
        length = int.from_bytes(body[pos : pos + 2], "big")
        chunk = body[pos + 2 : pos + 2 + length]
        if len(chunk) < length:
            error = f"batch item declares {length} bytes, {len(chunk)} left"
            break
        chunks.append(bytes(chunk))
        try:
            items.append(parse_location(chunk))
        except DecodeError as exc:
            items.append(exc)
        pos += 2 + length
    if error is None and len(items) != count:
        error = f"batch declares {count} items, holds {len(items)}"
    return LocationBatch(count, kind, tuple(items), tuple(chunks), error)


def bcd_time_gmt8(digits: str) -> datetime:
    """``YYMMDDhhmmss`` in GMT+8 (years 20YY) to aware UTC. Raises :class:`DecodeError`."""
    if len(digits) != 12 or not digits.isdigit():
        raise DecodeError(f"bad time {digits!r} (expected BCD YYMMDDhhmmss)")
    yy, mo, dd, hh, mi, ss = (int(digits[i : i + 2]) for i in range(0, 12, 2))
    try:
        local = datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=GMT8)
    except ValueError as exc:
        raise DecodeError(f"bad time {digits!r}") from exc
    return local.astimezone(UTC)


def alarms_from_flags(flags: int) -> frozenset[Alarm]:
    """The :class:`Alarm` set of an alarm DWORD (bit 0 = SOS)."""
    return frozenset(alarm for bit, alarm in _ALARM_BITS.items() if flags & (1 << bit))


def report_record(
    report: LocationReport,
    *,
    device_id: str,
    received_at: datetime,
    source_format: str,
    raw: str,
    raw_bytes: bytes,
) -> PositionFix | AlarmSignal | Rejected:
    """What one location report becomes (module docstring): a fix, an alarm without a fix, or
    the reason it is neither. ``raw`` is the evidence kept on the record (the frame's hex or the
    JSON text); ``raw_bytes`` the part a reject points at."""
    lat, lon = report.lat, report.lon
    problem = None if report.located else "not located (status bit 1 clear)"
    problem = problem or check_position(lat, lon)
    try:
        device_time: datetime | None = bcd_time_gmt8(report.time_bcd)
    except DecodeError as exc:
        device_time = None
        problem = problem or exc.reason
    alarms = report.alarms
    if problem is None and device_time is not None:
        return PositionFix(
            device_id=device_id,
            fix_time=device_time,
            received_at=received_at,
            lat=lat,
            lon=lon,
            speed_mps=report.speed_0_1kmh / 10.0 * _KMH_TO_MPS,
            course_deg=float(report.direction) if 0 <= report.direction <= 360 else None,
            altitude_m=float(report.altitude_m),
            satellites=report.satellites,
            alarms=alarms,
            battery_pct=report.battery_pct,
            source_format=source_format,
            raw=raw,
        )
    if not alarms:
        return Rejected(problem or "no position", raw_bytes, device_id)
    # An alarm must reach a person even without a fix. The position the report carries (the
    # terminal's last known one, maybe old) is kept when it is a possible one; a report whose
    # clock is unreadable is dated by its arrival.
    carried = check_position(lat, lon) is None
    return AlarmSignal(
        device_id=device_id,
        alarm_time=device_time or received_at,
        received_at=received_at,
        alarms=alarms,
        lat=lat if carried else None,
        lon=lon if carried else None,
        battery_pct=report.battery_pct,
        source_format=source_format,
        raw=raw,
    )
