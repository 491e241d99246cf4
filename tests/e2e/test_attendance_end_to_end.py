"""End to end: ZKTeco clock-in terminals → the gateway's ``/iclock`` routes (HTTP PUSH) or its
binary-protocol client (TCP) → attendance rules → the core stub.

Same rig as the patrol tests (``tests.e2e.test_patrol_end_to_end``): the site written there,
one ``ManualClock`` for the gateway and the terminals, SQLite or PostgreSQL, the signing core
stub. g-102 (PIN 1002) keeps the gate from 08:00; the terminal ``zk-gate`` stands at his post.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fwsim.scenario.field import load_field_scenario, parse_field_scenario
from gateway.cluster.tables import RelayedPunchRow
from tests.e2e import test_patrol_end_to_end as rig_module
from tests.e2e.test_patrol_end_to_end import (
    SCENARIOS,
    STEP_S,
    TERMINAL_SN,
    FieldRig,
    RigFactory,
    at,
    iso,
)

field_rig = rig_module.field_rig  # the rig fixture, shared with the patrol tests


def test_late_clock_in_is_alerted_at_the_grace_end_and_resolved_by_the_check_in(
    field_rig: RigFactory,
) -> None:
    rig = field_rig(load_field_scenario(SCENARIOS / "clock-in-late.yaml"), ["g-102"])
    rig.play(at(50))
    events = rig.events()

    assert [(e["type"], e["subject"], e["time"]) for e in events] == [
        ("alert.absent_at_shift_start", "g-102", iso(10)),
        ("alert.late_clock_in", "g-102", iso(15)),
        ("attendance.punch", "g-102", iso(19)),
        ("presence.arrived", "g-102", iso(19)),  # a punch at his post's terminal places him
        ("attendance.unknown_person", "zk-gate", iso(20)),
        ("attendance.punch", "g-102", iso(40)),
        ("attendance.punch", "g-102", iso(47)),
    ]
    late, check_in = events[1]["data"], events[2]["data"]
    assert late["fired_late"] is False and late["grace_s"] == 900
    detected = datetime.fromisoformat(late["detected_at"])
    assert 0 <= (detected - at(15)).total_seconds() <= STEP_S
    assert (check_in["kind"], check_in["late"], check_in["first_check_in"]) == (
        "check_in",
        True,
        True,
    )
    assert check_in["terminal_id"] == "zk-gate" and check_in["person_id"] == "1002"
    assert check_in["source_format"] == "zkteco_push"
    alert = rig.alert("alert.late_clock_in")
    assert alert.resolved_at is not None and alert.resolved_at.isoformat() == at(19).isoformat()
    unknown = events[4]["data"]
    assert (unknown["person_id"], unknown["verify"], unknown["kind"]) == (
        "9999",
        "card",
        "check_in",
    )
    assert [e["data"]["kind"] for e in events[5:]] == ["break_out", "break_in"]
    counters = rig.counters()
    assert counters["punches.stored"] == 4 and counters["punches.unknown_person"] == 1
    assert rig.runner.stats()["zk-gate"].acknowledged == 4


DOUBLE_PUSH = {
    "name": "double-push",
    "field_devices": {
        "terminals": [{"id": "zk-gate", "kind": "zkteco_push", "sn": TERMINAL_SN}],
        "timeline": [
            # Two punches wait on the terminal (no network), then go up together.
            {"at_min": 2, "punch": {"terminal": "zk-gate", "pin": "1002", "push": False}},
            {
                "at_min": 3,
                "punch": {"terminal": "zk-gate", "pin": "9999", "verify": "card", "push": False},
            },
            {"at_min": 4, "push": {"terminal": "zk-gate"}},
            # The OK was lost: the terminal sends the same records again, twice.
            {"at_min": 5, "repush": {"terminal": "zk-gate"}},
            {"at_min": 6, "punch": {"terminal": "zk-gate", "pin": "1002", "kind": "break_out"}},
            {"at_min": 7, "repush": {"terminal": "zk-gate"}},
        ],
    },
}


def test_a_terminal_pushing_the_same_records_again_gets_each_punch_counted_once(
    field_rig: RigFactory,
) -> None:
    rig = field_rig(parse_field_scenario(DOUBLE_PUSH), ["g-102"])
    rig.play(at(8))
    events = rig.events()

    assert [(e["type"], e["time"]) for e in events] == [
        ("attendance.punch", iso(2)),
        ("presence.arrived", iso(2)),
        ("attendance.unknown_person", iso(3)),
        ("attendance.punch", iso(6)),
    ]
    assert events[0]["data"]["late"] is False and events[3]["data"]["kind"] == "break_out"
    counters = rig.counters()
    assert counters["punches.stored"] == 3
    assert counters["punches.duplicate"] == 2 + 3  # both re-sends, every record of each
    terminal = rig.runner.push_terminal("zk-gate")
    assert [r.acknowledged for r in terminal.results] == [2, 2, 1, 3]  # every upload got OK


OFFLINE_ALL_MORNING = {
    "name": "offline-terminal",
    "field_devices": {
        "terminals": [{"id": "zk-gate", "kind": "zkteco_push", "sn": TERMINAL_SN}],
        "timeline": [
            # He clocks in at 08:02 on a terminal with no network; it pushes at 08:40.
            {"at_min": 2, "punch": {"terminal": "zk-gate", "pin": "1002", "push": False}},
            {"at_min": 40, "push": {"terminal": "zk-gate"}},
        ],
    },
}


def test_a_check_in_pushed_late_by_an_offline_terminal_withdraws_the_alerts_it_shows_wrong(
    field_rig: RigFactory,
) -> None:
    # Meanwhile the clock raised him absent (08:10) and late clocking in (08:15). The punch of
    # 08:02 shows both wrong: he was at his post's terminal and clocked in. Before, it only
    # resolved them, the punch marked late, as if he had come at 08:40.
    rig = field_rig(parse_field_scenario(OFFLINE_ALL_MORNING), ["g-102"])
    rig.play(at(45))
    events = rig.events()

    assert [(e["type"], e["subject"], e["time"]) for e in events[:2]] == [
        ("alert.absent_at_shift_start", "g-102", iso(10)),
        ("alert.late_clock_in", "g-102", iso(15)),
    ]
    assert [(e["type"], e["data"].get("withdrawn_type")) for e in events[2:]] == [
        ("attendance.punch", None),
        ("alert.withdrawn", "alert.late_clock_in"),
        ("presence.arrived", None),
        ("alert.withdrawn", "alert.absent_at_shift_start"),
    ]
    punch, late_withdrawn, arrived, absence_withdrawn = events[2:]
    assert (punch["time"], punch["data"]["late"], punch["data"]["backfilled"]) == (
        iso(2),
        False,
        True,
    )
    assert late_withdrawn["data"]["reason"] == "checked_in_before"
    assert late_withdrawn["data"]["checked_in_at"] == at(2).isoformat()
    assert arrived["time"] == iso(2)
    assert absence_withdrawn["data"]["reason"] == "arrived_before"
    for alert_type in ("alert.late_clock_in", "alert.absent_at_shift_start"):
        assert rig.alert(alert_type).resolution == "withdrawn"


BINARY = {
    "name": "binary-terminal",
    "field_devices": {
        "terminals": [{"id": "zk-gate", "kind": "zkteco_binary"}],
        "timeline": [
            {"at_min": 1, "punch": {"terminal": "zk-gate", "pin": "1002", "verify": "face"}},
            {"at_min": 30, "punch": {"terminal": "zk-gate", "pin": "1002", "kind": "break_out"}},
        ],
    },
}


def test_punches_on_a_binary_protocol_terminal_reach_the_core_as_attendance_punches(
    field_rig: RigFactory,
) -> None:
    rig = field_rig(parse_field_scenario(BINARY), ["g-102"], clock_in="binary")
    terminal = rig.runner.binary_terminal("zk-gate")
    rig.wait_for(lambda: terminal.live_connections == 1, "the gateway registered for events")
    rig.play(at(31))
    events = rig.events()

    assert [(e["type"], e["time"]) for e in events] == [
        ("attendance.punch", iso(1)),
        ("presence.arrived", iso(1)),
        ("attendance.punch", iso(30)),
    ]
    first = events[0]["data"]
    assert (first["kind"], first["verify"], first["terminal_id"]) == ("check_in", "face", "zk-gate")
    assert events[2]["data"]["kind"] == "break_out"


HELD_ELSEWHERE = {
    "name": "held-elsewhere",
    "field_devices": {
        "terminals": [{"id": "zk-gate", "kind": "zkteco_push", "sn": TERMINAL_SN}],
        "timeline": [
            {"at_min": 2, "punch": {"terminal": "zk-gate", "pin": "1002"}},
            {"at_min": 6, "punch": {"terminal": "zk-gate", "pin": "1002", "kind": "break_out"}},
        ],
    },
}


def test_punches_of_a_guard_another_process_holds_are_relayed_and_applied_once_by_his_owner(
    field_rig: RigFactory,
) -> None:
    rig = field_rig(parse_field_scenario(HELD_ELSEWHERE), ["g-102"])
    # As a partitioned node whose leases left it every partition but g-102's: his rules run
    # in another process (none here yet: his partition is being taken over).
    rig.gateway.processor.set_scope(lambda guard: guard != "g-102")
    rig.play(at(8))

    counters = rig.counters()
    assert counters["punches.stored"] == 2 and counters["punches.relayed"] == 2
    assert "punches.off_duty" not in counters and "punches.relayed_in" not in counters
    assert rig.events() == []  # nothing decided here for a guard held elsewhere
    assert rig.runner.stats()["zk-gate"].acknowledged == 2  # stored, so the terminal got OK
    assert relayed(rig) == 2

    # The process takes his partition over (as the lease's next owner would): it applies
    # the punches waiting for him, once, as if its own terminal had sent them.
    rig.gateway.processor.set_scope(None)
    rig.play(at(8.5))
    events = rig.events()
    assert [(e["type"], e["subject"], e["time"]) for e in events] == [
        ("attendance.punch", "g-102", iso(2)),
        ("presence.arrived", "g-102", iso(2)),
        ("attendance.punch", "g-102", iso(6)),
    ]
    assert events[0]["data"]["late"] is False and events[2]["data"]["kind"] == "break_out"
    assert rig.counters()["punches.relayed_in"] == 2 and relayed(rig) == 0
    rig.play(at(12))  # past his absence deadline: he punched in, so no alert
    assert len(rig.events()) == 3 and rig.counters()["punches.relayed_in"] == 2


def relayed(rig: FieldRig) -> int:
    with Session(rig.gateway.engine) as session:
        return int(session.scalar(select(func.count()).select_from(RelayedPunchRow)) or 0)
