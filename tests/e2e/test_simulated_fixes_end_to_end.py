"""End to end, a terminal in simulator mode places nobody (docs/device-contract.md, NMEA).

A GNSS module left in demo mode, or a phone running a fake-GPS app, prints well-formed NMEA
whose mode says ``S`` (simulator) or whose GGA quality is 8 (simulation mode). Published on the
guard's own topic from his post, they must neither put him on the post nor keep the stream from
going on: each is a counted reject, and the real fix after them is taken.

The sentences are written here by hand (the simulator prints only real modes), with the checksum
NMEA defines; the rules they test are those of ``drivers.gps.nmea_sentence``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import reduce

from tests.e2e.hard_cases import RigFactory, at, core_events, rig_factory, timeline

__all__ = ["rig_factory"]  # the fixture, used by name

DEVICE = "13800000001"
TOPIC = f"devices/{DEVICE}/nmea"


def _sentence(body: str) -> str:
    return f"${body}*{reduce(lambda a, c: a ^ ord(c), body, 0):02X}\r\n"


def _ddmm(degrees: float, width: int) -> str:
    whole = int(degrees)
    return f"{whole:0{width}d}{(degrees - whole) * 60:07.4f}"


def epoch(when: datetime, lon: float, lat: float, *, mode: str, quality: int) -> bytes:
    """An RMC and a GGA of one epoch at (``lon``, ``lat``), with ``mode`` and ``quality``."""
    hms, dmy = when.strftime("%H%M%S.00"), when.strftime("%d%m%y")
    where = f"{_ddmm(lat, 2)},N,{_ddmm(lon, 3)},E"
    rmc = _sentence(f"GPRMC,{hms},A,{where},0.1,0.0,{dmy},,,{mode}")
    gga = _sentence(f"GPGGA,{hms},{where},{quality},09,0.9,25.0,M,-10.0,M,,")
    return (rmc + gga).encode("ascii")


def test_a_fake_gps_on_the_post_places_nobody_each_epoch_counted_then_a_real_fix_is_taken(
    rig_factory: RigFactory,
) -> None:
    rig = rig_factory([("g-001", "jt-gate-north", DEVICE)])
    lon, lat = rig.anchors["jt-gate-north"]
    simulated_at = [at(1), at(1.5), at(2)]
    real_at = at(3)
    # The terminal's next real fix, inside too: an arrival is confirmed by a second fix.
    next_real_at = at(3.5)

    def step(now: datetime) -> None:
        if now in simulated_at:
            # A demo-mode module: RMC mode S and GGA quality 8 together.
            rig.publish(TOPIC, epoch(now, lon, lat, mode="S", quality=8))
            # A fake-GPS app marking only its RMC: its GGA says a real fix (quality 1).
            later = now + timedelta(seconds=10)
            rig.publish(TOPIC, epoch(later, lon, lat, mode="S", quality=1))
        if now in (real_at, next_real_at):
            rig.publish(TOPIC, epoch(now, lon, lat, mode="A", quality=1))

    rig.play(at(4), at_step=step)

    assert timeline(core_events(rig), "g-001") == [("presence.arrived", real_at)]
    counters = rig.counters()
    # Per demo-mode epoch: the RMC and the GGA; per fake-GPS epoch: the RMC and the epoch.
    assert counters["rejected.simulated_fix"] == 4 * len(simulated_at)
    assert counters["fixes.received"] == 2
    assert counters.get("errors.decoder", 0) == 0
