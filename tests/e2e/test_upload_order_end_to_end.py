"""End to end, a blind-area upload that lists what the terminal stored newest first
(docs/device-contract.md, "Positions stored while offline"): the pipeline takes the positions
of a batch in the order of their times (``BatchContext.open``), and a message is never split
over batches, so the outing they show is judged as from a terminal that lists them oldest
first.

g-001 keeps the north gate 08:00-20:00 with a gateway-JSON terminal simulated by ``fwsim`` over
the rig's broker; the terminal is quiet from 08:05 (a basement) and the test publishes its
upload at 08:25 in the terminal's place: on post to 08:06:30, out 08:07-08:22:30, on post from
08:23. Judged in the order listed, every position after the newest would be older than its
device's last one: history, and the outing never seen.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from fwsim.gps.fix import SimFix
from fwsim.gps.gateway_json import encode_json_batch, json_topic
from tests.e2e.hard_cases import RigFactory, at, core_events, of, rig_factory, timeline
from tests.e2e.helpers import post_points
from tests.e2e.rig import terminal

__all__ = ["rig_factory"]  # the fixture, used by name

POST = "jt-gate-north"
DEVICE = "13800000001"


def _stored(where: tuple[float, float], start_min: float, end_min: float) -> list[SimFix]:
    """The fixes the terminal took every 30 s from ``start_min`` to ``end_min`` (inclusive)."""
    lon, lat = where
    count = int((end_min - start_min) * 2) + 1
    return [
        SimFix(DEVICE, at(start_min + n / 2), lat, lon, 8.0, 0.5, 0.0, 25.0, 9, 90.0)
        for n in range(count)
    ]


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_an_upload_listed_newest_first_is_judged_as_one_listed_oldest_first(
    rig_factory: RigFactory, order: str
) -> None:
    rig = rig_factory([("g-001", POST, DEVICE)])
    points = post_points(rig.engine, POST)
    runner = rig.runner(
        [
            terminal(
                DEVICE,
                "json",
                points.inside,
                [
                    {"stay": {"duration_s": 300}},
                    {"silent": {"duration_s": 1260}},
                    {"stay": {"duration_s": 600}},
                ],
            )
        ]
    )
    stored = (
        _stored(points.inside, 5.5, 6.5)
        + _stored(points.outside, 7, 22.5)
        + _stored(points.inside, 23, 24.5)
    )
    if order == "newest_first":
        stored.reverse()

    def upload(now: datetime) -> None:
        if now == at(25):
            rig.publish(json_topic(DEVICE), encode_json_batch(stored))

    rig.play(runner.end_time + timedelta(seconds=30), at_step=upload)
    events = core_events(rig)

    judged = [
        (t, w)
        for t, w in timeline(events, "g-001")
        if t not in ("alert.device_silent", "presence.device_resumed")
    ]
    assert judged == [
        ("presence.arrived", at(0)),
        ("presence.departed", at(7)),
        ("alert.unreported_departure", at(7)),
        ("alert.overtime_departure", at(22)),
        ("presence.returned", at(23)),
    ]
    for type_ in ("presence.departed", "alert.overtime_departure", "presence.returned"):
        assert of(events, type_)["data"]["backfilled"] is True
    counters = rig.counters()
    assert counters["fixes.stored"] == sum(s.fixes for s in runner.stats().values()) + len(stored)
