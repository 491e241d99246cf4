"""End to end, no terminal speaks for another: an SOS posted on guard A's topic but naming guard
B's device (gateway JSON ``device_id``, a JT/T 808 frame with B's phone in its header) raises no
alert for B, or for A, and is counted as ``rejected.device_id_mismatch``; B's own SOS on his own
topic still raises his alert.

Real broker, real gateway (``build_gateway``), messages published as a forger would.
"""

from __future__ import annotations

import json
from datetime import datetime

from fwsim.gps import jt808 as sim
from tests.e2e.hard_cases import RigFactory, at, core_events, of, rig_factory, timeline
from tests.e2e.test_sos_end_to_end import SOS_AT, iso, on_post

__all__ = ["rig_factory"]  # the fixture, used by name

DEVICE_A = "13800000001"
DEVICE_B = "13800000002"


def test_an_sos_on_a_topic_naming_another_device_raises_nothing_for_either_guard(
    rig_factory: RigFactory,
) -> None:
    rig = rig_factory([("g-001", "jt-gate-north", DEVICE_A), ("g-002", "jt-gate-east", DEVICE_B)])
    on_post(rig, "g-001", "jt-gate-north", DEVICE_A)
    on_post(rig, "g-002", "jt-gate-east", DEVICE_B)
    lon, lat = rig.anchors["jt-gate-east"]

    def forged_json(when: datetime) -> bytes:
        doc = {"device_id": DEVICE_B, "time": iso(when), "lat": lat, "lon": lon, "alarms": ["sos"]}
        return json.dumps(doc).encode()

    def forged_jt808(when: datetime) -> bytes:
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
        frame_serial = 0x7000 + SOS_AT.index(when)
        return sim.build_frame(
            sim.MSG_LOCATION, sim.bcd_phone(DEVICE_B), frame_serial, sim.location_body(body)
        )

    def forge(now: datetime) -> None:
        if now in SOS_AT:
            rig.publish(f"devices/{DEVICE_A}/json", forged_json(now))
            rig.publish(f"devices/{DEVICE_A}/jt808", forged_jt808(now))

    rig.play(at(10), at_step=forge)

    events = core_events(rig)
    assert timeline(events, "g-002") == [("presence.arrived", at(0))]
    assert timeline(events, "g-001") == [("presence.arrived", at(0))]
    counters = rig.counters()
    assert counters["rejected.device_id_mismatch"] == 4  # two presses, two formats
    assert "alarms.sos" not in counters
    assert [k for k in counters if k.startswith("rejected.")] == ["rejected.device_id_mismatch"]


def test_the_same_sos_on_the_guards_own_topic_raises_his_alert(rig_factory: RigFactory) -> None:
    """The control: the rig sees an SOS when one is really sent (so the test above can fail)."""
    rig = rig_factory([("g-002", "jt-gate-east", DEVICE_B)])
    on_post(rig, "g-002", "jt-gate-east", DEVICE_B)
    lon, lat = rig.anchors["jt-gate-east"]

    def own(now: datetime) -> None:
        if now in SOS_AT:
            doc = {"device_id": DEVICE_B, "time": iso(now), "lat": lat, "lon": lon}
            rig.publish(f"devices/{DEVICE_B}/json", json.dumps({**doc, "alarms": ["sos"]}).encode())

    rig.play(at(10), at_step=own)

    events = core_events(rig)
    assert timeline(events, "g-002") == [("presence.arrived", at(0)), ("alert.sos", SOS_AT[0])]
    assert of(events, "alert.sos", "g-002")["data"]["device_id"] == DEVICE_B
    assert rig.counters()["alarms.sos"] == 1
