"""A check-out (签退) punched before the shift's end, through the gateway as ``guard-gateway
run`` wires it: the ZKTeco PUSH terminal of ``fwsim`` posting to the ``/iclock`` routes on a
real HTTP port, the pipeline thread, the record outbox, on a manual clock, on SQLite and
PostgreSQL (``push_rig``).

g-001 keeps the north gate 08:00-10:00; the gate's clock-in terminal stands at his post.
Before, a check-out was only evidence that he was there: one who checked out at 09:00 and went
home was never seen to leave, and nothing was raised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.test_attendance_push_in_run import (
    BREAK_IN,
    CHECK_IN,
    CHECK_OUT,
    local,
    push_rig,
)

SHIFT = [{"post": "jt-gate-north", "start": "08:00", "end": "10:00"}]


def presence_and_alerts(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The presence and alert types of ``events`` in order. Without a GPS terminal there is no
    ``alert.device_silent`` among them: the gate terminal is quiet between punches as a matter
    of course (only a terminal he wears can go silent)."""
    return [t for t, _ in events if t.startswith(("presence.", "alert."))]


def test_check_out_an_hour_early_without_gps_is_unreported_overtime_and_left_early(
    db_url: str, tmp_path: Path
) -> None:
    # No GPS terminal: in at 07:58, out at 09:00, never back. The end waits for no upload
    # (the gate terminal is no worn terminal in a blind area): left early is raised at 10:00.
    with push_rig(db_url, tmp_path, SHIFT, gps=False) as rig:
        rig.run(
            range(-3, 135),
            {-2: [(CHECK_IN, local(-2))], 60: [(CHECK_OUT, local(60))]},
            lambda m: None,
        )
        events = rig.events()
        kinds = presence_and_alerts(events)
        assert kinds == [
            "presence.arrived",
            "presence.departed",
            "alert.unreported_departure",
            "alert.overtime_departure",
            "alert.left_early",
        ]
        data = {t: d for t, d in events}
        assert data["presence.departed"]["started_at"] == "2026-03-02T01:00:00+00:00"
        assert data["presence.departed"]["checked_out"] is True
        assert data["alert.unreported_departure"]["checked_out"] is True
        assert data["alert.overtime_departure"]["off_post_s"] == 900.0
        early = data["alert.left_early"]
        assert (early["left_at"], early["left_before_end_s"]) == (
            "2026-03-02T01:00:00+00:00",
            3600.0,
        )
        assert early["checked_out"] is True
        assert early["detected_at"] == "2026-03-02T02:00:06+00:00"


def test_check_out_then_back_at_the_terminal_ends_the_departure(
    db_url: str, tmp_path: Path
) -> None:
    # Out at 09:00, a break-in at the gate at 09:10 (he came back): unreported, no overtime,
    # not left early.
    with push_rig(db_url, tmp_path, SHIFT, gps=False) as rig:
        rig.run(
            range(-3, 125),
            {
                -2: [(CHECK_IN, local(-2))],
                60: [(CHECK_OUT, local(60))],
                70: [(BREAK_IN, local(70))],
            },
            lambda m: None,
        )
        events = rig.events()
        kinds = presence_and_alerts(events)
        assert kinds == [
            "presence.arrived",
            "presence.departed",
            "alert.unreported_departure",
            "presence.returned",
        ]
        returned = next(d for t, d in events if t == "presence.returned")
        assert returned["duration_s"] == 600.0


def test_check_out_within_two_minutes_of_the_end_or_after_it_raises_nothing(
    db_url: str, tmp_path: Path
) -> None:
    # Out at 09:59 by the terminal's clock: the end, as far as a terminal's clock can tell.
    with push_rig(db_url, tmp_path, SHIFT, gps=False) as rig:
        rig.run(
            range(-3, 125),
            {-2: [(CHECK_IN, local(-2))], 119: [(CHECK_OUT, local(119))]},
            lambda m: None,
        )
        events = rig.events()
        assert presence_and_alerts(events) == ["presence.arrived"]
        assert [d["kind"] for t, d in events if t == "attendance.punch"] == [
            "check_in",
            "check_out",
        ]


def test_check_out_early_with_a_gps_terminal_lying_still_on_post_is_no_alibi(
    db_url: str, tmp_path: Path
) -> None:
    # His GPS terminal reads the same spot inside the gate after he checks out at 09:00: it
    # does not show him there (a device left behind), the check-out stands.
    with push_rig(db_url, tmp_path, SHIFT) as rig:
        rig.run(
            range(-3, 125),
            {-2: [(CHECK_IN, local(-2))], 60: [(CHECK_OUT, local(60))]},
            lambda m: "inside",
        )
        kinds = presence_and_alerts(rig.events())
        assert kinds == [
            "presence.arrived",
            "presence.departed",
            "alert.device_left_behind",
            "alert.unreported_departure",
            "alert.overtime_departure",
            "alert.left_early",
        ]


def test_check_out_early_then_gps_walks_out_and_back_returns_him(
    db_url: str, tmp_path: Path
) -> None:
    # Out at 09:00; his GPS terminal outside 09:01-09:05, inside again from 09:06: back.
    with push_rig(db_url, tmp_path, SHIFT) as rig:
        rig.run(
            range(-3, 125),
            {-2: [(CHECK_IN, local(-2))], 60: [(CHECK_OUT, local(60))]},
            lambda m: "outside" if 61 <= m <= 65 else "inside",
        )
        events = rig.events()
        kinds = presence_and_alerts(events)
        assert kinds == [
            "presence.arrived",
            "presence.departed",
            "alert.unreported_departure",
            "presence.returned",
        ]
        returned = next(d for t, d in events if t == "presence.returned")
        assert returned["started_at"] == "2026-03-02T01:00:00+00:00"
        assert returned["returned_at"] == "2026-03-02T01:06:00+00:00"


def test_check_out_pushed_late_by_an_offline_terminal_opens_the_departure_at_the_punch(
    db_url: str, tmp_path: Path
) -> None:
    # The terminal was offline from 08:50: it pushes the check-out of 09:00 and the break-in of
    # 09:30 at 09:40. The departure is his from 09:00; its alerts, due meanwhile, fall at once
    # (backfilled); the overtime fell before he was back and stands.
    with push_rig(db_url, tmp_path, SHIFT, gps=False) as rig:
        rig.run(
            range(-3, 125),
            {
                -2: [(CHECK_IN, local(-2))],
                100: [(CHECK_OUT, local(60)), (BREAK_IN, local(90))],
            },
            lambda m: None,
        )
        events = rig.events()
        kinds = presence_and_alerts(events)
        assert kinds == [
            "presence.arrived",
            "presence.departed",
            "alert.unreported_departure",
            "alert.overtime_departure",
            "presence.returned",
        ]
        data = {t: d for t, d in events}
        assert data["presence.departed"]["started_at"] == "2026-03-02T01:00:00+00:00"
        assert data["alert.unreported_departure"]["backfilled"] is True
        assert data["alert.overtime_departure"]["backfilled"] is True
        assert data["presence.returned"]["returned_at"] == "2026-03-02T01:30:00+00:00"


def test_check_out_early_on_a_double_shift_is_left_early_from_the_second(
    db_url: str, tmp_path: Path
) -> None:
    # 08:00-10:00 then 10:00-12:00 at the gate (连班): out at 09:00, never back. The second
    # shift takes the outing over (his duty goes on: on post, as handed over); clocked out,
    # he owes it a check-in; he left early from it, at 12:00.
    double = [*SHIFT, {"post": "jt-gate-north", "start": "10:00", "end": "12:00"}]
    with push_rig(db_url, tmp_path, double, gps=False) as rig:
        rig.run(
            range(-3, 255),
            {-2: [(CHECK_IN, local(-2))], 60: [(CHECK_OUT, local(60))]},
            lambda m: None,
        )
        events = [(t, d) for t, d in rig.events() if t.startswith(("presence.", "alert."))]
        assert [(t, d["shift_id"][-16:]) for t, d in events] == [
            ("presence.arrived", "20260302T000000Z"),
            ("presence.departed", "20260302T000000Z"),
            ("alert.unreported_departure", "20260302T000000Z"),
            ("alert.overtime_departure", "20260302T000000Z"),
            ("presence.arrived", "20260302T020000Z"),
            ("alert.late_clock_in", "20260302T020000Z"),
            ("alert.left_early", "20260302T020000Z"),
        ]
        early = events[-1][1]
        assert (early["left_at"], early["shift_end"]) == (
            "2026-03-02T01:00:00+00:00",
            "2026-03-02T04:00:00+00:00",
        )
