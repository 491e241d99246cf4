"""What leaders read in their group: every alert and follow-up in Chinese words, local time,
minutes (the size limits: ``test_robot_message_limits``)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.outbox.robot_messages import ALERT_TITLES, render, single

TZ = ZoneInfo("Asia/Shanghai")
EVENT_ID = "3f2a9c1d-0000-5000-8000-000000000000"


def event(type_: str, time: str = "2026-03-02T00:06:06+00:00", **data: Any) -> dict[str, Any]:
    base = {
        "guard_id": "g-004",
        "guard_name": "赵军",
        "team": "A",
        "post_id": "jt-patrol-central",
        "post_name": "中心花园巡逻岗 (central garden patrol)",
        "site_id": "wh-jiangtan-garden",
        "backfilled": False,
        "late": False,
    }
    base.update(data)
    return {"id": EVENT_ID, "type": type_, "subject": "g-004", "time": time, "data": base}


CASES: list[tuple[dict[str, Any], str]] = [
    (
        event("alert.unreported_departure", started_at="2026-03-02T00:06:06+00:00"),
        "赵军 (g-004) 于 08:06 离开 中心花园巡逻岗，未报备。",
    ),
    (
        event(
            "alert.overtime_departure",
            started_at="2026-03-01T23:51:06+00:00",
            off_post_s=900.0,
            limit_s=900.0,
        ),
        "赵军 (g-004) 自 07:51 离开 中心花园巡逻岗，已离岗 15 分钟：未报备，离岗超过 15 分钟，"
        "没有批准的请假。",
    ),
    (
        event(
            "alert.leave_overrun",
            started_at="2026-03-02T00:20:00+00:00",
            leave_ends_at="2026-03-02T00:35:00+00:00",
            off_post_s=900.0,
        ),
        "赵军 (g-004) 的请假已于 08:35 结束，仍未回到 中心花园巡逻岗（08:20 离岗，已 15 分钟）。",
    ),
    (
        event("alert.leave_not_cancelled", returned_at="2026-03-02T00:31:06+00:00", limit_s=3600),
        "赵军 (g-004) 已于 08:31 回到 中心花园巡逻岗，60 分钟内未销假。",
    ),
    (
        event("alert.absent_at_shift_start", shift_start="2026-03-02T00:00:00+00:00", grace_s=600),
        "赵军 (g-004) 未到岗：中心花园巡逻岗 的班次 08:00 开始，10 分钟后仍不在岗。",
    ),
    (
        event("alert.device_silent", silent_since="2026-03-02T00:20:08+00:00", silent_s=600),
        "赵军 (g-004) 的终端自 08:20 起没有数据，已 10 分钟（中心花园巡逻岗）。",
    ),
    (
        event(
            "alert.sos",
            position={"quality": "fix", "lat": 30.6070123, "lon": 114.3002},
            on_duty=True,
        ),
        "**赵军 (g-004) 于 08:06 在 中心花园巡逻岗 按下 SOS 紧急求助，请立即联系！**",
    ),
    (
        event(
            "alert.checkpoint_missed",
            checkpoint_id="cp-fountain",
            window_start="2026-03-02T00:35:00+00:00",
            window_end="2026-03-02T00:40:00+00:00",
        ),
        "赵军 (g-004) 漏巡：巡更点 喷泉 应在 08:35–08:40 之间打点，未打点。",
    ),
    (
        event("alert.late_clock_in", shift_start="2026-03-02T00:00:00+00:00", grace_s=900),
        "赵军 (g-004) 的班次 08:00 开始，15 分钟内未在考勤机打卡（中心花园巡逻岗）。",
    ),
    (
        event(
            "alert.device_left_behind",
            left_device_id="badge-004",
            away_device_id="gps-004",
            still_since="2026-03-02T00:01:00+00:00",
            apart_m=212.4,
        ),
        "赵军 (g-004) 的设备 badge-004 自 08:01 起静止在 中心花园巡逻岗，而另一设备 gps-004 "
        "已离岗，相距 212 米：人不在岗位。",
    ),
    (
        event(
            "alert.left_early",
            left_at="2026-03-02T11:10:00+00:00",
            shift_end="2026-03-02T12:00:00+00:00",
        ),
        "赵军 (g-004) 于 19:10 离开 中心花园巡逻岗（未报备），班次 20:00 结束前未回，早退。",
    ),
]


@pytest.mark.parametrize(("evt", "headline"), CASES, ids=[c[0]["type"] for c in CASES])
def test_every_alert_reads_as_a_chinese_sentence_in_local_time(
    evt: dict[str, Any], headline: str
) -> None:
    text = render(evt, TZ, {"cp-fountain": "喷泉 (fountain)"})
    assert text.headline == headline
    assert text.title == ALERT_TITLES[evt["type"]]
    assert not text.follow_up
    message = single(text)
    assert message.lines[0] == "### " + text.title
    assert message.lines[-1] == "> 3月2日 08:06 · 班组 A · 编号 3f2a9c1d"


def test_the_catalogue_and_the_coming_alert_types_all_have_chinese_titles() -> None:
    catalogue = {
        "alert.unreported_departure",
        "alert.overtime_departure",
        "alert.leave_overrun",
        "alert.leave_not_cancelled",
        "alert.absent_at_shift_start",
        "alert.device_silent",
        "alert.sos",
        "alert.checkpoint_missed",
        "alert.late_clock_in",
        "alert.device_left_behind",
        "alert.left_early",
        "alert.withdrawn",
        "alert.escalated",
        "alert.resolved",
    }
    assert set(ALERT_TITLES) == catalogue
    for title in ALERT_TITLES.values():
        chinese, english = title.split(" (")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese) and english.endswith(")")


def test_a_departure_by_a_check_out_before_the_end_says_he_checked_out() -> None:
    out = {"checked_out": True, "started_at": "2026-03-02T06:00:00+00:00"}
    texts = [
        render(event(kind, **out, **extra), TZ).headline
        for kind, extra in (
            ("alert.unreported_departure", {}),
            ("alert.overtime_departure", {"limit_s": 900, "off_post_s": 900}),
            (
                "alert.left_early",
                {"left_at": out["started_at"], "shift_end": "2026-03-02T08:00:00+00:00"},
            ),
            (
                "alert.device_left_behind",
                {"left_device_id": "gps-004", "still_since": "2026-03-02T05:50:00+00:00"},
            ),
        )
    ]
    assert texts == [
        "赵军 (g-004) 于 14:00 在考勤机签退离开 中心花园巡逻岗，未报备。",
        "赵军 (g-004) 自 14:00 在考勤机签退离开 中心花园巡逻岗，已离岗 15 分钟：未报备，离岗超过 "
        "15 分钟，没有批准的请假。",
        "赵军 (g-004) 于 14:00 在考勤机签退离开 中心花园巡逻岗（未报备），班次 16:00 结束前未回，"
        "早退。",
        "赵军 (g-004) 的设备 gps-004 自 13:50 起静止在 中心花园巡逻岗，而其已在考勤机签退离岗："
        "人不在岗位。",
    ]


def test_sos_is_urgent_and_says_where_and_how_good_the_position_is() -> None:
    position = {"quality": "fix_dropped", "lat": 30.6070123, "lon": 114.3002}
    text = render(event("alert.sos", position=position, on_duty=True), TZ)
    assert text.urgent
    assert text.details == (
        "本次定位（精度不足或已过时，仅供参考）：30.60701, 114.30020（WGS-84）",
    )
    off_duty = render(event("alert.sos", position={"quality": "none"}, on_duty=False), TZ)
    assert "非当班时间" in off_duty.headline
    assert off_duty.details == ("无任何位置信息，请电话联系。",)


@pytest.mark.parametrize(
    ("withdrawn", "why", "typed_in", "headline", "detail"),
    [
        (
            "alert.absent_at_shift_start",
            {"reason": "leave_on_record", "approved_at": "2026-03-01T23:10:00+00:00"},
            "2026-03-02T00:30:06+00:00",
            "赵军 (g-004) 的「上岗未到」已撤销：请假在此之前已获批准。",
            "请假批准时间 07:10，录入时间 08:30",
        ),
        (
            "alert.leave_not_cancelled",
            {"reason": "cancelled_in_time", "cancelled_at": "2026-03-02T00:21:00+00:00"},
            "2026-03-02T02:30:00+00:00",
            "赵军 (g-004) 的「未按时销假」已撤销：已在时限内销假。",
            "销假时间 08:21，录入时间 10:30",
        ),
        (
            "alert.overtime_departure",
            {
                "reason": "returned_before",
                "returned_at": "2026-03-02T01:08:00+00:00",
                "fell_at": "2026-03-02T01:15:00+00:00",
            },
            "2026-03-02T01:30:00+00:00",
            "赵军 (g-004) 的「离岗超时」已撤销：补传的定位或巡更记录显示其在告警前已回岗。",
            "回岗时间 09:08，告警时间 09:15",
        ),
        (
            "alert.left_early",
            {
                "reason": "returned_before",
                "returned_at": "2026-03-02T01:31:00+00:00",
                "fell_at": "2026-03-02T02:00:00+00:00",
            },
            "2026-03-02T04:05:00+00:00",
            "赵军 (g-004) 的「早退」已撤销：补传的定位或巡更记录显示其在告警前已回岗。",
            "回岗时间 09:31，告警时间 10:00",
        ),
        (
            "alert.absent_at_shift_start",
            {
                "reason": "arrived_before",
                "arrived_at": "2026-03-01T23:55:00+00:00",
                "fell_at": "2026-03-02T00:10:00+00:00",
            },
            "2026-03-02T00:25:00+00:00",
            "赵军 (g-004) 的「上岗未到」已撤销：补传的定位或巡更记录显示其在告警前已到岗。",
            "到岗时间 07:55，告警时间 08:10",
        ),
        (
            "alert.late_clock_in",
            {
                "reason": "checked_in_before",
                "checked_in_at": "2026-03-01T23:58:00+00:00",
                "fell_at": "2026-03-02T00:15:00+00:00",
            },
            "2026-03-02T00:40:00+00:00",
            "赵军 (g-004) 的「迟到打卡」已撤销：考勤机补传的打卡记录显示其在告警前已签到。",
            "签到时间 07:58，告警时间 08:15",
        ),
    ],
)
def test_a_withdrawal_for_a_fact_typed_in_late_says_when_it_was_made_and_typed_in(
    withdrawn: str, why: dict[str, str], typed_in: str, headline: str, detail: str
) -> None:
    evt = event("alert.withdrawn", withdrawn_type=withdrawn, **why)
    evt["time"] = typed_in  # a withdrawal is dated when the fact was typed in
    text = render(evt, TZ)
    assert text.follow_up
    assert text.headline == headline
    assert text.details == (detail,)


def test_an_overrun_found_when_the_leave_was_typed_in_says_he_is_back() -> None:
    text = render(
        event(
            "alert.leave_overrun",
            time="2026-03-02T00:35:00+00:00",
            started_at="2026-03-02T00:20:00+00:00",
            leave_ends_at="2026-03-02T00:35:00+00:00",
            returned_at="2026-03-02T01:05:00+00:00",
            overrun_s=1800.0,
            detected_at="2026-03-02T01:30:00+00:00",
        ),
        TZ,
    )
    assert (
        text.headline
        == "赵军 (g-004) 的请假已于 08:35 结束，09:05 才回到 中心花园巡逻岗（超出 30 分钟）。"
    )
    assert text.details == ("请假录入时间 09:30",)


def test_a_not_cancelled_alert_for_a_leave_typed_in_late_says_when_it_was_typed_in() -> None:
    returned = "2026-03-02T00:31:06+00:00"
    on_time = render(event("alert.leave_not_cancelled", returned_at=returned, limit_s=3600), TZ)
    assert on_time.details == ()
    late = render(
        event(
            "alert.leave_not_cancelled",
            returned_at=returned,
            limit_s=3600,
            leave_entered_at="2026-03-02T02:10:00+00:00",
        ),
        TZ,
    )
    assert late.headline == on_time.headline
    assert late.details == ("请假录入时间 10:10",)
    # Out on the leave when his shift ended: owed from the leave's end, not a return to post.
    off_duty = render(
        event("alert.leave_not_cancelled", returned_at=returned, limit_s=3600, off_duty=True), TZ
    )
    assert off_duty.headline == "赵军 (g-004) 的请假已于 08:31 结束（已下班），60 分钟内未销假。"


@pytest.mark.parametrize(
    ("evt", "title", "headline"),
    [
        (
            event("presence.returned", returned_at="2026-03-02T00:28:06+00:00", duration_s=1320),
            "已回岗 (returned)",
            "赵军 (g-004) 于 08:28 回到 中心花园巡逻岗，离岗 22 分钟。",
        ),
        (
            event(
                "alert.withdrawn",
                withdrawn_type="alert.unreported_departure",
                reason="报备时间早于离岗",
            ),
            "告警撤销 (alert withdrawn)",
            "赵军 (g-004) 的「未报备离岗」已撤销：报备时间早于离岗。",
        ),
        (
            event("leave.cancelled", cancelled_at="2026-03-02T01:40:00+00:00", delay_s=4140),
            "已销假 (leave cancelled)",
            "赵军 (g-004) 已于 09:40 销假（回岗后 69 分钟）。",
        ),
        (
            event(
                "presence.arrived",
                arrived_at="2026-03-02T00:17:00+00:00",
                after_shift_start_s=1020,
            ),
            "已到岗 (arrived)",
            "赵军 (g-004) 于 08:17 到岗 中心花园巡逻岗（班次开始后 17 分钟）。",
        ),
    ],
)
def test_resolutions_are_a_short_follow_up(evt: dict[str, Any], title: str, headline: str) -> None:
    text = render(evt, TZ)
    assert text.follow_up and not text.urgent
    assert (text.title, text.headline) == (title, headline)
    assert single(text).lines == (
        "#### " + title,
        headline,
        "> 3月2日 08:06 · 班组 A · 编号 3f2a9c1d",
    )


def test_an_escalation_names_the_alert_how_long_it_waited_and_whom_it_went_to() -> None:
    managers = [{"id": "jt-manager", "name": "黄经理 (manager)", "contacts": {}}]
    text = render(
        event(
            "alert.escalated",
            alert_type="alert.unreported_departure",
            opened_at="2026-03-01T23:56:06+00:00",
            unacknowledged_s=600.0,
            managers=managers,
        ),
        TZ,
    )
    assert (text.title, text.follow_up) == ("告警升级 (alert escalated)", False)
    assert text.headline == (
        "赵军 (g-004)（中心花园巡逻岗）的「未报备离岗」自 07:56 起 10 分钟无人确认，已上报 黄经理，"
        "请尽快处理。"
    )


def test_a_hand_resolution_is_a_follow_up_with_the_note() -> None:
    text = render(
        event(
            "alert.resolved",
            alert_type="alert.absent_at_shift_start",
            resolved_by="jt-leader-a",
            note="已到现场核实",
        ),
        TZ,
    )
    assert (text.title, text.follow_up) == ("告警已处理 (alert resolved by hand)", True)
    assert text.headline == "赵军 (g-004) 的「上岗未到」已由 jt-leader-a 于 08:06 手动解除。"
    assert text.details == ("说明：已到现场核实",)


def test_a_reader_without_a_guard_is_named_as_a_device() -> None:
    evt = {
        "id": EVENT_ID,
        "type": "alert.device_silent",
        "subject": "em-cp-fountain",
        "time": "2026-03-02T00:50:00+00:00",
        "data": {"device_id": "em-cp-fountain", "reason": "serial port closed"},
    }
    text = render(evt, TZ)
    assert text.headline == "设备 em-cp-fountain 失联（serial port closed），08:50 起没有响应。"


def test_late_and_backfilled_events_say_so() -> None:
    late = render(event("alert.unreported_departure", late=True, backfilled=True), TZ)
    assert late.headline.endswith("（网关恢复后补报）")
    old = render(event("alert.unreported_departure", backfilled=True), TZ)
    assert old.headline.endswith("（补传数据发现）")


def test_a_late_check_in_is_the_guard_being_late_not_the_gateway() -> None:
    punch = event("attendance.punch", punched_at="2026-03-02T00:19:00+00:00", late=True)
    punch["data"]["after_shift_start_s"] = 1140
    assert render(punch, TZ).headline == "赵军 (g-004) 于 08:19 打卡（班次开始后 19 分钟）。"
    fired = render(event("alert.checkpoint_missed", fired_late=True), TZ)
    assert fired.headline.endswith("（网关恢复后补报）")


def test_an_unknown_alert_type_still_reads() -> None:
    text = render(event("alert.not_yet_known"), TZ)
    assert text.title == "alert.not_yet_known"
    assert text.headline == "赵军 (g-004) 在 中心花园巡逻岗 08:06：alert.not_yet_known。"
