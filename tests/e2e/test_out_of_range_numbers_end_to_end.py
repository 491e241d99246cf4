"""End to end, a number or a time no float or date can hold is a reject like any other: counted
(``rejected.*``), logged once, and the rest of its message and of the stream go on. JSON's
integers have no bound, and a clock rendered as ``0001-01-01T00:00:00+08:00`` (the first instant
of the calendar in China's zone) is a year before the first in UTC; each made a codec raise, so
the whole message was lost (a blind-area batch with every good position in it, an SOS), counted
as a decoder failure and logged with its traceback each time.

Real broker, real gateway (``build_gateway``), payloads published as a terminal sends them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from tests.e2e.hard_cases import RigFactory, at, core_events, of, rig_factory, timeline
from tests.e2e.test_sos_end_to_end import SOS_AT, iso, on_post

__all__ = ["rig_factory"]  # the fixture, used by name

DEVICE = "13800000001"
HUGE = "1" + "0" * 400
"""A JSON integer literal of 401 digits: valid JSON, too large for a float."""


def test_out_of_range_numbers_and_times_are_rejects_and_lose_nothing_else(
    rig_factory: RigFactory,
) -> None:
    rig = rig_factory([("g-001", "jt-gate-north", DEVICE)])
    on_post(rig, "g-001", "jt-gate-north", DEVICE)
    lon, lat = rig.anchors["jt-gate-north"]

    def send(now: datetime) -> None:
        if now != SOS_AT[0]:  # one press: a fix without SOS after it would end the emergency
            return
        good = {"time": iso(now + timedelta(seconds=1)), "lat": lat, "lon": lon}
        unset_clock = {"time": "0001-01-01T00:00:00+08:00", "lat": lat, "lon": lon}
        batch = {"fixes": [good, {**unset_clock, "alarms": ["sos"]}]}
        rig.publish(f"devices/{DEVICE}/json", json.dumps(batch).encode())
        huge_accuracy = (
            f'{{"time": "{iso(now)}", "lat": {lat}, "lon": {lon}, "accuracy_m": {HUGE}}}'
        )
        rig.publish(f"devices/{DEVICE}/json", huge_accuracy.encode())
        owntracks = f'{{"_type": "location", "lat": {HUGE}, "lon": {lon}, "tst": 1772409600}}'
        rig.publish("owntracks/jane/nokia", owntracks.encode())
        body = {
            "alarm": 0,
            "status": 2,
            "latitude": int(HUGE),
            "longitude": round(lon * 1e6),
            "altitude": 0,
            "speed": 0,
            "direction": 0,
            "time": "260302080000",
        }
        emqx = {"header": {"msg_id": 512, "phone": "13900000009"}, "body": body}
        rig.publish("jt808/13900000009/13900000009/up", json.dumps(emqx).encode())
        # Taken in before the clock steps on: the SOS is dated by its arrival.
        rig.settle()

    rig.play(at(10), at_step=send)

    events = core_events(rig)
    # The SOS whose clock was never set is dated by its arrival.
    assert timeline(events, "g-001") == [("presence.arrived", at(0)), ("alert.sos", SOS_AT[0])]
    assert of(events, "alert.sos", "g-001")["data"]["position"]["quality"] == "terminal_last_known"
    counters = rig.counters()
    assert "errors.decoder" not in counters
    assert {k: v for k, v in counters.items() if k.startswith("rejected.")} == {
        "rejected.time_out_of_range": 1,
        "rejected.accuracy_m_is_not_finite": 1,
        "rejected.lat_is_not_finite": 1,
        "rejected.latitude_out_of_range": 1,
    }
    # 21 reports from the post (08:00-08:10, every 30 s) and the good item of the batch.
    assert counters["fixes.stored"] == 22
