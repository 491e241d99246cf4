"""End to end, only the site file's ZKTeco PUSH terminals are answered: a terminal with another
serial number gets the refusal on every ``/iclock`` request over real HTTP, none of its punches
is stored or acknowledged (it keeps them), and it is reported: counted as
``rejected.unknown_terminal`` (visible in ``/health``) and logged once per interval. The site's
own terminal, on the same server at the same time, is served as before.

Same rig as the attendance tests (``tests.e2e.test_patrol_end_to_end``), with the firmware
simulator's PUSH terminal.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest

from fwsim.scenario.field import parse_field_scenario
from fwsim.zkteco.push_terminal import PushTerminal
from tests.e2e import test_patrol_end_to_end as rig_module
from tests.e2e.test_patrol_end_to_end import TERMINAL_SN, RigFactory, at, iso

field_rig = rig_module.field_rig  # the rig fixture, shared with the patrol tests

GATE = {
    "name": "known-and-unknown-terminals",
    "field_devices": {
        "terminals": [{"id": "zk-gate", "kind": "zkteco_push", "sn": TERMINAL_SN}],
        "timeline": [{"at_min": 1, "punch": {"terminal": "zk-gate", "pin": "1002"}}],
    },
}
STRANGER = "ZKSTRANGER99"


def test_a_terminal_not_in_the_site_file_is_refused_reported_and_stores_nothing(
    field_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = field_rig(parse_field_scenario(GATE), ["g-102"])
    assert rig.runner.api_url is not None
    caplog.set_level(logging.WARNING, logger="gateway.pipeline")
    with PushTerminal(rig.runner.api_url, STRANGER) as stranger:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            stranger.handshake()
        assert refused.value.response.status_code == 403
        assert refused.value.response.text == "ERROR: unknown terminal"
        when = (at(1) + timedelta(hours=8)).replace(tzinfo=None)  # the terminal's local clock
        stranger.punch("1002", when)
        stranger.punch("1002", when + timedelta(seconds=5))
        assert stranger.push() == 0
        assert stranger.push() == 0  # it retries: still refused, still nothing acknowledged
        with pytest.raises(httpx.HTTPStatusError):
            stranger.poll()
        assert [(r.status_code, r.body) for r in stranger.results] == [
            (403, "ERROR: unknown terminal")
        ] * 2
        assert len(stranger.pending) == 2  # kept by the terminal for when it is added
    rig.play(at(2))

    events = rig.events()
    assert [(e["type"], e["data"].get("terminal_id"), e["time"]) for e in events] == [
        ("attendance.punch", "zk-gate", iso(1)),  # the stranger's are not among them
        ("presence.arrived", None, iso(1)),
    ]
    counters = rig.counters()
    assert counters["punches.stored"] == 1  # the site's own terminal's punch only
    assert counters["rejected.unknown_terminal"] == 4  # handshake, two uploads, one poll
    health = httpx.get(f"{rig.runner.api_url}/health").json()
    assert health["counters"]["rejected.unknown_terminal"] == 4
    logged = [r for r in caplog.records if STRANGER in r.getMessage()]
    assert len(logged) == 1  # once per interval, whatever the number of requests
    assert "unknown terminal" in logged[0].getMessage()
