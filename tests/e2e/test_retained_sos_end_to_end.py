"""End to end, a retained SOS is one emergency however often the broker replays it
(docs/presence-rules.md, "SOS (紧急求助)").

A terminal that publishes its SOS with the retain flag (against docs/device-contract.md, but
field firmware does) leaves it on the broker: every time the gateway's client subscribes again
(each restart or reconnect) the broker hands it over anew, with the retain flag set. The guard's
leaders must see that emergency once; a new press of the button must still be raised.

The messages are gateway JSON written here by hand, published retained on the terminal's own
topic of the rig's private Mosquitto; the gateway is stopped and started again on the same
broker session, database and core, as a restart does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.e2e.hard_cases import ApiFactory, RigFactory, api, at, core_events, rig_factory, when
from tests.e2e.helpers import outbox_rows
from tests.e2e.rig import Rig, terminal

__all__ = ["api", "rig_factory"]  # the fixtures, used by name

DEVICE = "13800000001"
TOPIC = f"devices/{DEVICE}/json"
FIRST_SOS = at(2) + timedelta(seconds=10)
AGAIN = FIRST_SOS + timedelta(seconds=10)
"""He presses the button a second time: the same emergency, and the message the broker keeps."""
NEW_SOS = at(110) + timedelta(seconds=10)


def sos(when: datetime, *, dated: bool) -> bytes:
    """The terminal's SOS pressed at ``when``: with its own time, or (``dated=False``) without
    one, as a terminal whose clock is not set sends it (dated by its arrival)."""
    message: dict[str, Any] = {"alarms": ["sos"], "battery_pct": 80}
    if dated:
        message["time"] = when.isoformat()
    return json.dumps(message).encode()


def restart(rig: Rig) -> None:
    """Stop and start the gateway; the broker replays the retained SOS on the new subscription
    (one message more than the terminals sent, which ``start_gateway`` waits for)."""
    rig.stop_gateway()
    rig.sent += 1
    rig.start_gateway()


@pytest.mark.parametrize("dated", [True, False], ids=["device_time", "no_device_time"])
def test_a_retained_sos_replayed_at_each_restart_is_raised_once_and_a_new_press_again(
    rig_factory: RigFactory, api: ApiFactory, dated: bool
) -> None:
    rig = rig_factory([("g-001", "jt-gate-north", DEVICE)])
    # His terminal reports from his post every 30 s: each position after an SOS ends its
    # episode, so a replay is not merely "the same emergency still going on".
    stays = [{"stay": {"duration_s": 3 * 3600}}]
    rig.runner([terminal(DEVICE, "json", rig.anchors["jt-gate-north"], stays)])

    def press(*times: datetime) -> Callable[[datetime], None]:
        def step(now: datetime) -> None:
            if now in times:
                rig.publisher.publish(TOPIC, sos(now, dated=dated), retain=True)
                rig.sent += 1
                rig.settle()  # taken at this clock time: an undated SOS is dated by it

        return step

    rig.play(at(4), at_step=press(FIRST_SOS, AGAIN))
    # Half an hour later the gateway restarts, the first alert still open; then its leader
    # resolves it by hand, and it restarts again an hour later.
    rig.play(at(30))
    restart(rig)
    rig.play(at(40))
    page = api(rig)
    (alert,) = [a for a in page.get("/alerts").json() if a["type"] == "alert.sos"]
    resolved = page.post(f"/alerts/{alert['id']}/resolve", json={"note": "checked on site"})
    assert resolved.status_code == 200, resolved.text
    rig.play(at(100))
    restart(rig)
    # A new emergency, pressed once: it replaces the retained message, which is then replayed.
    rig.play(at(120), at_step=press(NEW_SOS))
    restart(rig)
    rig.play(at(125))

    events = core_events(rig)
    sos_events = [e for e in events if e["type"] == "alert.sos"]
    assert [(e["subject"], when(e)) for e in sos_events] == [
        ("g-001", FIRST_SOS),
        ("g-001", NEW_SOS),
    ]
    assert [r.type for r in outbox_rows(rig.engine) if r.type == "alert.sos"] == ["alert.sos"] * 2
    # The last gateway saw only the replay of the new SOS: counted, not raised.
    counters = rig.counters()
    assert (counters.get("alarms.sos", 0), counters["alarms.sos_replayed"]) == (0, 1)
