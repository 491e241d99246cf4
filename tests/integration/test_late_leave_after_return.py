"""A leave typed in after the guard came back from it, through the pipeline ``guard-gateway
run`` drives (``Processor.run_command`` with the commands ``POST /leaves`` and ``POST
/leaves/{id}/cancel`` run), on SQLite and PostgreSQL:

* it is owed its cancellation (销假): before, such a leave asked for none, and the guard who
  never cancelled it got no ``alert.leave_not_cancelled``;
* if he came back only after it ran out, ``alert.leave_overrun`` is raised, dated at its end
  and ended at his return (open, if he was still out when the shift ended): before, his
  overtime alert was withdrawn and nothing took its place;
* typed in after the shift, a leave reaching its end withdraws his ``alert.left_early``;
* cancelling the first leave of an extension (续假) settles what the extension is owed: before,
  the guard got the alert an hour later although he had cancelled.

The patrol site (``tests.ledger.patrol_scenario``): g-001 at the north gate 08:00-10:00. He is
on post from 07:58, out from 08:20 on a leave for 08:20-09:00 his leader approved by phone at
08:15, and back on post until the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import ApproveLeave, CancelLeave
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome
from gateway.site.loader import load_site_file
from tests.e2e.helpers import alert_rows, core_events, fix_at, post_points
from tests.ledger.patrol_scenario import GATE, at, patrol_site

Leave = tuple[int, int, int, int]
"""(typed in, starts, ends, approved at), in minutes from 08:00."""
PHONED: Leave = (0, 20, 60, 15)


def _outing(
    engine: Engine,
    tmp_path: Path,
    *,
    typed: int,
    cancelled: tuple[int, int] | None = None,
    restart: int | None = None,
    leaves: tuple[Leave, ...] = (),
    back: int = 50,
    leave_to: int = 60,
) -> list[str]:
    """Play the morning to 11:00, out 08:20 to minute ``back``, the leave ``PHONED`` (to
    minute ``leave_to``) typed in at minute ``typed``, and ``leaves`` besides; ``cancelled``:
    (typed in, dated) minutes of the first leave's cancellation; ``restart``: the minute the
    gateway restarts (a new ``Processor`` on the same database). Returns the leaves' ids, in
    the order typed in."""
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    gate = post_points(engine, GATE[1])
    clock = ManualClock(at(-50))
    processor = Processor(engine, clock)
    ids: list[str] = []
    todo = sorted(((typed, PHONED[1], leave_to, PHONED[3]), *leaves))
    for minute in range(-2, 180):
        clock.set(at(minute + 0.1))
        if minute == restart:
            processor = Processor(engine, clock)
        for _, starts, ends, approved in (lv for lv in todo if lv[0] == minute):
            row = processor.run_command(
                ApproveLeave(GATE[0], at(starts), at(ends), "jt-leader-a", approved_at=at(approved))
            )
            ids.append(str(row["id"]))
        if cancelled is not None and minute == cancelled[0]:
            processor.run_command(CancelLeave(ids[0], at(cancelled[1])))
        fixes = ()
        if minute < 120:
            where = gate.outside if 20 <= minute < back else gate.inside
            fixes = (fix_at(GATE[2], at(minute), where),)
        processor.process_outcomes([DecodeOutcome(fixes=fixes)])
        processor.tick()
    return ids


def _core(engine: Engine, type_: str) -> list[dict[str, Any]]:
    return core_events(engine, type_, GATE[0])


def _resolutions(engine: Engine, type_: str) -> list[str | None]:
    return [resolution for _, _, resolution in alert_rows(engine, type_, GATE[0])]


def test_typed_in_after_the_return_the_cancellation_is_owed_from_the_return(
    engine: Engine, tmp_path: Path
) -> None:
    # Typed in at 09:00 (after a restart at 08:55): never cancelled, the alert falls at 09:50.
    _outing(engine, tmp_path, typed=60, restart=55)
    [alert] = _core(engine, "alert.leave_not_cancelled")
    assert alert["time"] == "2026-03-02T01:50:00Z"
    assert alert["returned_at"] == "2026-03-02T00:50:00+00:00"
    assert alert["leave_entered_at"] == "2026-03-02T01:00:06+00:00"
    [returned] = _core(engine, "presence.returned")
    assert alert["departure_id"] == returned["departure_id"]
    assert _resolutions(engine, "alert.leave_not_cancelled") == [None]  # open for the leaders
    # The outing's own alerts were withdrawn by the leave, as before.
    assert {w["withdrawn_type"] for w in _core(engine, "alert.withdrawn")} == {
        "alert.unreported_departure",
        "alert.overtime_departure",
    }


def test_typed_in_after_the_shift_with_its_cancellation_nothing_is_raised(
    engine: Engine, tmp_path: Path
) -> None:
    # The shift ended at 10:00 and its machine closed; at 10:30 the leader types the leave in,
    # and a minute later its cancellation, made at 09:10: in time, no alert.
    _outing(engine, tmp_path, typed=150, cancelled=(151, 70))
    assert _core(engine, "alert.leave_not_cancelled") == []
    [cancelled] = _core(engine, "leave.cancelled")
    assert cancelled["in_time"] is True and cancelled["delay_s"] == 1200.0


def test_typed_in_after_the_shift_and_never_cancelled_it_falls_after_the_grace(
    engine: Engine, tmp_path: Path
) -> None:
    # Typed in at 10:30, the gateway restarted at 10:31: the reopened machine was saved and
    # reloaded, and the alert falls at 10:32 (the entry and the two-minute grace).
    _outing(engine, tmp_path, typed=150, restart=151)
    [alert] = _core(engine, "alert.leave_not_cancelled")
    assert alert["time"] == "2026-03-02T02:32:06Z"
    assert _resolutions(engine, "alert.leave_not_cancelled") == [None]


def test_cancelling_the_leave_an_extension_ran_on_from_settles_it(
    engine: Engine, tmp_path: Path
) -> None:
    # On record at 08:15 to 09:00, extended (续假) at 08:50 to 09:40; back at 09:20, and the
    # leader cancels the first leave, the application he remembers, at 09:30.
    first, extension = _outing(
        engine, tmp_path, typed=15, leaves=((50, 60, 100, 50),), back=80, cancelled=(90, 90)
    )
    [cancelled] = _core(engine, "leave.cancelled")
    assert (cancelled["leave_id"], cancelled["used_leave_id"]) == (first, extension)
    assert cancelled["in_time"] is True and cancelled["delay_s"] == 600.0
    assert _core(engine, "alert.leave_overrun") == []
    assert _core(engine, "alert.leave_not_cancelled") == []


def test_back_after_the_leave_ran_out_the_overrun_is_on_record(
    engine: Engine, tmp_path: Path
) -> None:
    # Out 08:20-09:30 on the leave to 09:00, typed in at 09:40: overrun from 09:00 to 09:30.
    _outing(engine, tmp_path, typed=100, back=90)
    [overrun] = _core(engine, "alert.leave_overrun")
    assert overrun["time"] == "2026-03-02T01:00:00Z"
    assert overrun["returned_at"] == "2026-03-02T01:30:00+00:00"
    assert overrun["overrun_s"] == 1800.0
    [(opened, resolved, resolution)] = alert_rows(engine, "alert.leave_overrun", GATE[0])
    assert (opened, resolved, resolution) == (at(60), at(90), "ended")
    assert [w["withdrawn_type"] for w in _core(engine, "alert.withdrawn")] == [
        "alert.unreported_departure",
        "alert.overtime_departure",
    ]
    assert _resolutions(engine, "alert.overtime_departure") == ["withdrawn"]


def test_out_at_the_end_the_overrun_is_raised_and_stays_open(
    engine: Engine, tmp_path: Path
) -> None:
    # Out from 08:20 and not back by 10:00; the leave to 09:00 typed in at 10:30: the overrun
    # from 09:00 is raised and stays open (he was not back), and he left early.
    _outing(engine, tmp_path, typed=150, back=200)
    [overrun] = _core(engine, "alert.leave_overrun")
    assert overrun["time"] == "2026-03-02T01:00:00Z" and "returned_at" not in overrun
    assert alert_rows(engine, "alert.leave_overrun", GATE[0]) == [(at(60), None, None)]
    assert _resolutions(engine, "alert.left_early") == [None]


def test_out_at_the_end_on_a_leave_past_it_he_did_not_leave_early(
    engine: Engine, tmp_path: Path
) -> None:
    # The same, the leave running to 10:30: no overrun, and his left early is withdrawn.
    _outing(engine, tmp_path, typed=150, back=200, leave_to=150)
    assert alert_rows(engine, "alert.leave_overrun", GATE[0]) == []
    assert _resolutions(engine, "alert.left_early") == ["withdrawn"]
    [withdrawn] = [
        w for w in _core(engine, "alert.withdrawn") if w["withdrawn_type"] == "alert.left_early"
    ]
    assert withdrawn["reason"] == "leave_on_record"
