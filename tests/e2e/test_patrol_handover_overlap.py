"""End to end: a patrol round walked during a handover, while the guard going off and his relief
are both on duty at the post (docs/site-file.md, routes; ``gateway.pipeline.overlap_scans``).

The rig of ``tests/e2e/test_patrol_end_to_end.py``: EM4100 readers simulated on
pseudo-terminals, fixed at the checkpoints of the garden patrol post and opened by the gateway's
own drivers, one ``ManualClock``, SQLite or PostgreSQL, the signing core stub. g-102's night
shift at the garden ends at 08:10; g-101, his relief, is on from 08:00, checks in at the gate,
and his first round starts at 08:05 (east 08:05-08:08, fountain 08:08-08:11, west
08:11-08:14).
"""

from __future__ import annotations

from typing import Any

from fwsim.scenario.field import parse_field_scenario
from tests.e2e import test_patrol_end_to_end as rig_module
from tests.e2e.test_patrol_end_to_end import TAGS, TERMINAL_SN, RigFactory, at, iso

field_rig = rig_module.field_rig  # the rig fixture, shared with the patrol tests

HANDOVER = [
    {"guard": "g-102", "post": "pt-garden", "days": "daily", "start": "00:00", "end": "08:10"},
    {"guard": "g-101", "post": "pt-garden", "days": "daily", "start": "08:00", "end": "20:00"},
]


def _round(minutes: dict[str, float]) -> dict[str, Any]:
    readers = [
        {"id": f"em-{checkpoint}", "kind": "em4100", "variant": "rdm6300"} for checkpoint in TAGS
    ]
    scans = [
        {"at_min": minute, "scan": {"reader": f"em-{checkpoint}", "tag": TAGS[checkpoint]}}
        for checkpoint, minute in minutes.items()
    ]
    check_in = {"at_s": 20, "punch": {"terminal": "zk-gate", "pin": "1001", "kind": "check_in"}}
    return {
        "name": "handover-round",
        "field_devices": {
            "readers": readers,
            "terminals": [{"id": "zk-gate", "kind": "zkteco_push", "sn": TERMINAL_SN}],
            "timeline": [check_in, *scans],
        },
    }


def test_the_reliefs_round_walked_while_the_night_guard_is_still_on_is_his(
    field_rig: RigFactory,
) -> None:
    scenario = _round({"cp-east": 6, "cp-fountain": 9, "cp-west": 12})
    rig = field_rig(parse_field_scenario(scenario), ["g-101", "g-102"], shifts=HANDOVER)
    rig.play(at(20))
    events = rig.events()

    # East and fountain are read while both are on duty (to 08:10): the round is g-101's, the
    # night guard has none left, so they are his, as west, read after g-102 went off.
    assert [(e["type"], e["time"]) for e in events if e["subject"] == "g-101"] == [
        ("attendance.punch", iso(20 / 60)),
        ("patrol.checkpoint_scanned", iso(6)),
        ("presence.arrived", iso(6)),
        ("patrol.checkpoint_scanned", iso(9)),
        ("patrol.checkpoint_scanned", iso(12)),
        ("patrol.round_completed", iso(12)),
    ]
    completed = next(e for e in events if e["type"] == "patrol.round_completed")["data"]
    assert (completed["scanned"], completed["on_time"], completed["missed"]) == (3, 3, 0)
    assert not [e for e in events if e["type"].startswith("patrol.") and e["subject"] != "g-101"]
    counters = rig.counters()
    assert counters["scans.stored"] == 3
    assert "scans.unattributed" not in counters
