"""End to end, an OwnTracks phone losing its connection is no rejected input: the broker
publishes the app's last will (``_type: lwt``) on the phone's base topic each time (a lift, a
basement car park), and it is counted as ``ignored.no_record``, with no ``rejected.*`` counter
and no warning, while the phone's positions go on keeping its guard on post.

Real broker, real gateway (``build_gateway``), the will published as the broker does.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

import pytest

from tests.e2e.hard_cases import RigFactory, at, core_events, rig_factory, timeline
from tests.e2e.rig import terminal

__all__ = ["rig_factory"]  # the fixture, used by name

PHONE = "jane/nokia"


def test_an_owntracks_phones_last_will_is_no_rejected_input(
    rig_factory: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = rig_factory([("g-001", "jt-gate-north", PHONE)])
    phone = terminal(
        "phone",
        "owntracks",
        rig.anchors["jt-gate-north"],
        [{"stay": {"duration_s": 600}}],
        options={"user": "jane", "device": "nokia"},
    )
    rig.runner([phone])
    wills = (at(3), at(6))

    def connection_drops(now: datetime) -> None:
        if now in wills:
            will = {"_type": "lwt", "tst": int(now.timestamp())}
            rig.publish(f"owntracks/{PHONE}", json.dumps(will).encode())

    with caplog.at_level(logging.WARNING):
        rig.play(at(10), at_step=connection_drops)

    assert timeline(core_events(rig), "g-001") == [("presence.arrived", at(0))]
    counters = rig.counters()
    assert not [k for k in counters if k.startswith("rejected.")]
    assert counters["ignored.no_record"] == 2
    assert counters["fixes.stored"] == 21  # 08:00-08:10, every 30 s
    assert not [r for r in caplog.records if "rejected input" in r.getMessage()]
