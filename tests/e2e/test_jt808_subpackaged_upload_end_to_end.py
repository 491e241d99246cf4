"""End to end, a blind-area upload too long for one JT/T 808 frame is reassembled
(docs/device-contract.md, JT/T 808).

A terminal that stored its positions without a network uploads them as a 0x0704 batch; past
1023 bytes of body the protocol splits it into packets (properties bit 13, JT/T 808-2013
section 4.4.3), which its bridge publishes as they come, one MQTT message each. Before, every
packet was refused and the guard's morning was lost; now the batch is taken whole once its last
packet came. The simulator encodes the batch and cuts it into packets
(``fwsim.gps.jt808.subpackaged_frames``; no corpus vector holds a sub-packaged location
message).
"""

from __future__ import annotations

from datetime import timedelta

from fwsim.gps import jt808 as sim
from tests.e2e.hard_cases import RigFactory, at, core_events, rig_factory, timeline

__all__ = ["rig_factory"]  # the fixture, used by name

PHONE = "13800000001"


def test_a_blind_area_batch_in_three_packets_shows_him_on_post_and_withdraws_his_absence(
    rig_factory: RigFactory,
) -> None:
    rig = rig_factory([("g-001", "jt-gate-north", PHONE)])
    lon, lat = rig.anchors["jt-gate-north"]
    stored = [
        sim.LocationBody(
            alarm=0,
            status=0x2,  # located
            lat_e6=round(lat * 1e6),
            lon_e6=round(lon * 1e6),
            altitude_m=20,
            speed_0_1kmh=0,
            direction_deg=0,
            time=at(m) + timedelta(seconds=5),
        )
        for m in range(40)
    ]
    body = sim.batch_body(stored, sim.BATCH_BLIND_AREA)
    frames = sim.subpackaged_frames(sim.MSG_BATCH_LOCATION, sim.bcd_phone(PHONE), 40, body, 3)
    assert len(frames) == 3
    rig.play(at(41))
    for frame in frames:  # the bridge publishes each packet as it comes
        rig.publish(f"devices/{PHONE}/jt808", frame)
    rig.settle()
    rig.play(at(42))

    # Silent from the start, he was reported absent; the upload shows him there all along.
    assert timeline(core_events(rig), "g-001") == [
        ("alert.absent_at_shift_start", at(10)),
        ("alert.device_silent", at(10)),
        ("presence.arrived", at(0) + timedelta(seconds=5)),
        ("alert.withdrawn", at(41)),
        ("presence.device_resumed", at(41)),
    ]
    counters = rig.counters()
    assert (counters["fixes.received"], counters["fixes.stored"]) == (40, 40)
    assert not [k for k in counters if k.startswith("rejected.")]
