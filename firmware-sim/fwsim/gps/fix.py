"""The simulated fix: what a terminal knows about itself at one instant, before any encoding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["SimFix"]


@dataclass(frozen=True, slots=True)
class SimFix:
    """One simulated position report, in WGS-84 and SI units.

    ``time`` is an aware UTC datetime (the terminal's fix time). ``accuracy_m`` is the horizontal
    accuracy the terminal *reports* (the radius holding about 68 % of fixes, as Android and
    OwnTracks use it); it is not the true error of this fix. ``course_deg`` is degrees clockwise
    from true north in [0, 360). ``battery_pct`` and ``odometer_m`` are ``None`` when the terminal
    does not report them. ``sos`` marks the terminal's emergency alarm.

    ``located`` is false when the receiver had no fix (indoors): ``lat``/``lon`` are then the
    terminal's last known position (0, 0 when it never had one), which only formats that can
    say "not located" send (JT/T 808 with status bit 1 clear); gateway JSON sends no position
    at all, and NMEA and OwnTracks terminals send nothing (they carry no alarm either).
    """

    device_id: str
    time: datetime
    lat: float
    lon: float
    accuracy_m: float
    speed_mps: float
    course_deg: float
    altitude_m: float
    satellites: int | None
    battery_pct: float | None
    sos: bool = False
    odometer_m: float | None = None
    located: bool = True

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("SimFix.time must be timezone-aware (UTC)")
        if not -90.0 <= self.lat <= 90.0 or not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"position out of range: {self.lat}, {self.lon}")
