"""End to end, a JSON or NMEA payload followed by its C string's NUL or a line ending is a
position (docs/device-contract.md, "Payloads").

Terminal firmware written in C often publishes ``strlen + 1`` bytes, the terminating NUL
included; others print the document with ``\\r\\n`` after it. Both are the same position as the
bare document: taken, with nothing counted as rejected. A NUL inside the document is still not
JSON.
"""

from __future__ import annotations

import json
from datetime import datetime

from fwsim.gps.fix import SimFix
from fwsim.gps.nmea import gga_sentence, rmc_sentence
from tests.e2e.hard_cases import RigFactory, at, core_events, rig_factory, timeline

__all__ = ["rig_factory"]  # the fixture, used by name

JSON_DEVICE = "13800000001"
OWNTRACKS_USER, OWNTRACKS_DEVICE = "zhangwei", "phone"
NMEA_DEVICE = "nmea-001"


def test_json_owntracks_and_nmea_payloads_ending_in_nul_or_crlf_are_positions_inner_nul_is_not(
    rig_factory: RigFactory,
) -> None:
    rig = rig_factory(
        [
            ("g-001", "jt-gate-north", JSON_DEVICE),
            ("g-002", "jt-gate-east", f"{OWNTRACKS_USER}/{OWNTRACKS_DEVICE}"),
            ("g-003", "jt-gate-north", NMEA_DEVICE),
        ]
    )
    north_lon, north_lat = rig.anchors["jt-gate-north"]
    east_lon, east_lat = rig.anchors["jt-gate-east"]

    def gateway_json(when: datetime) -> bytes:
        fix = {"time": when.isoformat(), "lat": north_lat, "lon": north_lon, "accuracy_m": 8}
        return json.dumps(fix).encode()

    def owntracks(when: datetime) -> bytes:
        location = {
            "_type": "location",
            "lat": east_lat,
            "lon": east_lon,
            "acc": 8,
            "tst": int(when.timestamp()),
        }
        return json.dumps(location).encode()

    def nmea(when: datetime) -> bytes:
        fix = SimFix(NMEA_DEVICE, when, north_lat, north_lon, 8.0, 0.0, 0.0, 25.0, 9, None)
        return (rmc_sentence(fix) + gga_sentence(fix)).rstrip("\r\n").encode("ascii")

    endings = {at(1): b"\x00", at(2): b"\r\n", at(3): b"\r\n\x00\x00"}
    inner_nul_at = at(4)

    def step(now: datetime) -> None:
        if now in endings:
            rig.publish(f"devices/{JSON_DEVICE}/json", gateway_json(now) + endings[now])
            topic = f"owntracks/{OWNTRACKS_USER}/{OWNTRACKS_DEVICE}"
            rig.publish(topic, owntracks(now) + endings[now])
            rig.publish(f"devices/{NMEA_DEVICE}/nmea", nmea(now) + endings[now])
        if now == inner_nul_at:
            cut = gateway_json(now)
            rig.publish(f"devices/{JSON_DEVICE}/json", cut[:10] + b"\x00" + cut[10:])

    rig.play(at(5), at_step=step)

    events = core_events(rig)
    assert timeline(events, "g-001") == [("presence.arrived", at(1))]
    assert timeline(events, "g-002") == [("presence.arrived", at(1))]
    assert timeline(events, "g-003") == [("presence.arrived", at(1))]
    counters = rig.counters()
    assert counters["fixes.received"] == 3 * len(endings)
    assert counters["fixes.stored"] == 3 * len(endings)
    rejected = {k: v for k, v in counters.items() if k.startswith("rejected.")}
    assert rejected == {"rejected.not_json": 1}
