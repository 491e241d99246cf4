"""End to end, a JT/T 808 terminal is the device its topic names, written as the site file
writes it: one registered under its 12-digit phone (``013800000001``, as the terminal's own
settings show it) puts its guard on post and raises his SOS, as one registered without the
leading zero does. Its broker account, its topic and its frames' header all name it; the
gateway must not turn it into an unknown ``13800000001``.

Real broker, real gateway (``build_gateway``); frames built by the simulator's encoder.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from fwsim.gps import jt808 as sim
from tests.e2e.hard_cases import RigFactory, at, core_events, of, rig_factory, timeline
from tests.e2e.test_sos_end_to_end import SOS_AT, on_post, press

__all__ = ["rig_factory"]  # the fixture, used by name


@pytest.mark.parametrize("device", ["013800000001", "13800000001"])
def test_a_jt808_terminal_registered_under_its_12_digit_phone_is_on_post_and_raises_its_sos(
    rig_factory: RigFactory, device: str
) -> None:
    rig = rig_factory([("g-001", "jt-gate-north", device)])
    on_post(rig, "g-001", "jt-gate-north", device, fmt="jt808")
    lon, lat = rig.anchors["jt-gate-north"]

    def sos(when: datetime) -> bytes:
        body = sim.LocationBody(
            alarm=sim.ALARM_SOS,
            status=sim.STATUS_LOCATED,
            lat_e6=round(lat * 1e6),
            lon_e6=round(lon * 1e6),
            altitude_m=0,
            speed_0_1kmh=0,
            direction_deg=0,
            time=when,
        )
        serial = 0x7000 + SOS_AT.index(when)
        return sim.build_frame(
            sim.MSG_LOCATION, sim.bcd_phone(device), serial, sim.location_body(body)
        )

    rig.play(at(10), at_step=press(rig, f"devices/{device}/jt808", sos))

    events = core_events(rig)
    assert timeline(events, "g-001") == [("presence.arrived", at(0)), ("alert.sos", SOS_AT[0])]
    assert of(events, "alert.sos", "g-001")["data"]["device_id"] == device
    counters = rig.counters()
    assert "dropped.unknown_device" not in counters
    assert not [k for k in counters if k.startswith("rejected.")]
    # 21 reports from the post (08:00-08:10, every 30 s) and the two SOS frames.
    assert counters["fixes.stored"] == 23
