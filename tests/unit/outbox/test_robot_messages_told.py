"""What a leader must be told of an alert (implementation rules, art. 10; DOMAIN.md): whether the
guard reported his departure or left on a leave, from when a grace ran when not from the shift's
start, and, for a manager reached by an escalation alone, where the guard is posted and since
when he is away. Durations count whole minutes down, as the ``HH:MM`` times beside them do."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.outbox.robot_messages import render, single

TZ = ZoneInfo("Asia/Shanghai")


def event(type_: str, time: str = "2026-03-02T00:20:00+00:00", **data: Any) -> dict[str, Any]:
    base = {
        "guard_name": "马超",
        "team": "B",
        "post_id": "jt-gate-east",
        "post_name": "东门岗 (east vehicle gate)",
        "backfilled": False,
        "late": False,
        **data,
    }
    return {"id": "52e1106e-0000", "type": type_, "subject": "g-012", "time": time, "data": base}


OUTING: dict[str, Any] = {
    "started_at": "2026-03-02T00:05:00+00:00",
    "off_post_s": 900.0,
    "limit_s": 900.0,
}


@pytest.mark.parametrize(
    ("report_id", "headline"),
    [
        (
            None,
            "马超 (g-012) 自 08:05 离开 东门岗，已离岗 15 分钟：未报备，离岗超过 15 分钟，"
            "没有批准的请假。",
        ),
        (
            "r-1",
            "马超 (g-012) 自 08:05 离开 东门岗，已离岗 15 分钟：已口头报备，但口头报备只能覆盖 "
            "15 分钟，没有批准的请假。",
        ),
    ],
    ids=["unreported", "reported"],
)
def test_an_overtime_departure_says_whether_he_reported_it(
    report_id: str | None, headline: str
) -> None:
    text = render(event("alert.overtime_departure", **OUTING, report_id=report_id), TZ)
    assert text.headline == headline


@pytest.mark.parametrize(
    ("told", "said"),
    [
        ({}, "未报备"),
        ({"report_id": "r-1"}, "已口头报备"),
        ({"leave_id": "l-1", "report_id": None}, "请假外出，请假在下班前已到期"),
    ],
    ids=["unreported", "reported", "on-a-leave"],
)
def test_a_guard_who_left_early_is_said_to_have_reported_or_not(
    told: dict[str, Any], said: str
) -> None:
    data = {"left_at": "2026-03-02T01:18:00+00:00", "shift_end": "2026-03-02T01:30:00+00:00"}
    text = render(event("alert.left_early", "2026-03-02T01:30:00+00:00", **data, **told), TZ)
    assert text.headline == (
        f"马超 (g-012) 于 09:18 离开 东门岗（{said}），班次 09:30 结束前未回，早退。"
    )


def test_an_absence_counted_from_the_load_says_when_the_roster_came() -> None:
    text = render(
        event(
            "alert.absent_at_shift_start",
            "2026-03-02T02:40:00+00:00",
            shift_start="2026-03-02T00:00:00+00:00",
            known_from="2026-03-02T02:30:00+00:00",
            grace_s=600,
        ),
        TZ,
    )
    assert text.headline == (
        "马超 (g-012) 未到岗：东门岗 的班次 08:00 开始，网关 10:30 才收到排班，此后 10 分钟"
        "仍不在岗。"
    )


@pytest.mark.parametrize(
    ("after", "said"),
    [
        ({"excused_until": "2026-03-02T01:00:00+00:00"}, "请假至 09:00，此后 "),
        (
            {"known_from": "2026-03-02T02:30:00+00:00", "excused_until": None},
            "网关 10:30 才收到排班，此后 ",
        ),
    ],
    ids=["leave-over-the-start", "roster-known-late"],
)
def test_a_late_clock_in_says_from_when_the_grace_ran(after: dict[str, Any], said: str) -> None:
    text = render(
        event(
            "alert.late_clock_in",
            shift_start="2026-03-02T00:00:00+00:00",
            grace_s=900,
            fired_late=False,
            **after,
        ),
        TZ,
    )
    assert (
        text.headline
        == f"马超 (g-012) 的班次 08:00 开始，{said}15 分钟内未在考勤机打卡（东门岗）。"
    )


def test_an_escalation_tells_the_manager_where_the_guard_is_posted_and_since_when_he_is_away() -> (
    None
):
    text = render(
        event(
            "alert.escalated",
            "2026-03-02T00:30:00+00:00",
            alert_type="alert.overtime_departure",
            opened_at="2026-03-02T00:20:00+00:00",
            started_at="2026-03-02T00:05:00+00:00",
            unacknowledged_s=600.0,
            managers=[{"id": "jt-manager", "name": "黄经理", "contacts": {}}],
        ),
        TZ,
    )
    assert single(text).lines[1:-1] == (
        "马超 (g-012)（东门岗）的「离岗超时」自 08:20 起 10 分钟无人确认，已上报 黄经理，"
        "请尽快处理。",
        "离岗时间 08:05",
    )


def test_minutes_are_counted_down_as_the_times_beside_them() -> None:
    text = render(
        event(
            "presence.arrived",
            "2026-03-02T00:18:40+00:00",
            arrived_at="2026-03-02T00:18:40+00:00",
            after_shift_start_s=1120.0,
        ),
        TZ,
    )
    assert text.headline == "马超 (g-012) 于 08:18 到岗 东门岗（班次开始后 18 分钟）。"
