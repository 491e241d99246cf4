"""The words of the group robots' messages: one template per event type, in Chinese.

Each template turns an event's data into a headline sentence (and rarely a detail line): who
(name and id), where (the post), when (local ``HH:MM``), what happened, durations in minutes,
each part read from the event as ``gateway.outbox.robot_context.Context`` reads it.
Titles are Chinese first with the English term after, as in the implementation rules.

An alert about leaving the post says whether he reported it (报备) or left on a leave, as the
rules ask a leader to know; one whose grace did not run from the shift's start (the roster
reached the gateway later, a leave covered the start) says from when it ran; an escalation
says where the guard is posted and since when he is away, for a manager who saw nothing before.
Durations are whole minutes counted down, as ``HH:MM`` times are: an arrival at 08:18:40 is
18 minutes after an 08:00 start, never 19.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.outbox.robot_context import Context, display, short_title

__all__ = ["ALERT_TITLES", "FOLLOW_UP_TITLES", "TEMPLATES"]

#: How each alert is named in a leader's group (the terms of the implementation rules).
ALERT_TITLES: dict[str, str] = {
    "alert.unreported_departure": "未报备离岗 (unreported departure)",
    "alert.overtime_departure": "离岗超时 (overtime departure)",
    "alert.leave_overrun": "请假超时未归 (leave overrun)",
    "alert.leave_not_cancelled": "未按时销假 (leave not cancelled)",
    "alert.absent_at_shift_start": "上岗未到 (absent at shift start)",
    "alert.device_silent": "终端失联 (device silent)",
    "alert.sos": "SOS 紧急求助 (SOS)",
    "alert.checkpoint_missed": "漏巡 (checkpoint missed)",
    "alert.late_clock_in": "迟到打卡 (late clock-in)",
    "alert.device_left_behind": "设备遗留在岗 (device left behind)",
    "alert.left_early": "早退 (left early)",
    "alert.withdrawn": "告警撤销 (alert withdrawn)",
    "alert.escalated": "告警升级 (alert escalated)",
    "alert.resolved": "告警已处理 (alert resolved by hand)",
}

#: Events that end an alert, as their follow-up is titled.
FOLLOW_UP_TITLES: dict[str, str] = {
    "presence.returned": "已回岗 (returned)",
    "presence.arrived": "已到岗 (arrived)",
    "presence.device_resumed": "终端恢复 (device resumed)",
    "leave.cancelled": "已销假 (leave cancelled)",
    "attendance.punch": "已打卡 (clocked in)",
    "patrol.checkpoint_scanned": "已补巡 (checkpoint scanned late)",
    "alert.withdrawn": ALERT_TITLES["alert.withdrawn"],
    "alert.resolved": ALERT_TITLES["alert.resolved"],
}

Template = Callable[[Context], tuple[str, tuple[str, ...]]]


def _left(c: Context) -> str:
    """How he left: by a check-out punched before the end (签退), or as the positions showed."""
    return "在考勤机签退离开" if c.data.get("checked_out") else "离开"


def _unreported(c: Context) -> tuple[str, tuple[str, ...]]:
    return f"{c.who} 于 {c.at('started_at')} {_left(c)} {c.post}，未报备。", ()


def _overtime(c: Context) -> tuple[str, tuple[str, ...]]:
    if c.data.get("report_id"):
        told = f"已口头报备，但口头报备只能覆盖 {c.minutes('limit_s')}"
    else:
        told = f"未报备，离岗超过 {c.minutes('limit_s')}"
    return (
        f"{c.who} 自 {c.at('started_at')} {_left(c)} {c.post}，已离岗 {c.minutes('off_post_s')}："
        f"{told}，没有批准的请假。",
        (),
    )


def _overrun(c: Context) -> tuple[str, tuple[str, ...]]:
    if c.data.get("returned_at"):
        # Found only when the leave was typed in, after he was back: dated at the leave's end.
        return (
            f"{c.who} 的请假已于 {c.at('leave_ends_at')} 结束，{c.at('returned_at')} 才回到 "
            f"{c.post}（超出 {c.minutes('overrun_s')}）。",
            (f"请假录入时间 {c.at('detected_at')}",),
        )
    return (
        f"{c.who} 的请假已于 {c.at('leave_ends_at')} 结束，仍未回到 {c.post}"
        f"（{c.at('started_at')} 离岗，已 {c.minutes('off_post_s')}）。",
        (),
    )


def _not_cancelled(c: Context) -> tuple[str, tuple[str, ...]]:
    # A leave typed in after the return: the leader sees why the alert comes this late.
    entered = (
        (f"请假录入时间 {c.at('leave_entered_at')}",) if c.data.get("leave_entered_at") else ()
    )
    if c.data.get("off_duty"):
        # Out on the leave when his shift ended: owed from the leave's end, not a return.
        return (
            f"{c.who} 的请假已于 {c.at('returned_at')} 结束（已下班），"
            f"{c.minutes('limit_s')}内未销假。",
            entered,
        )
    return (
        f"{c.who} 已于 {c.at('returned_at')} 回到 {c.post}，{c.minutes('limit_s')}内未销假。",
        entered,
    )


def _absent(c: Context) -> tuple[str, tuple[str, ...]]:
    since = _grace_from(c)
    waited = f"{c.minutes('grace_s')}后" if since is None else f"{since}{c.minutes('grace_s')}"
    return f"{c.who} 未到岗：{c.post} 的班次 {c.at('shift_start')} 开始，{waited}仍不在岗。", ()


def _grace_from(c: Context) -> str | None:
    """From when a grace ran, when not from the shift's start (``None``): the end of the
    leave over the start (``excused_until``) or the load that brought the shift to the gateway
    (``known_from``), whichever came later, as the rules count it."""
    leave, known = c.local(c.data.get("excused_until")), c.local(c.data.get("known_from"))
    if leave is not None and (known is None or leave > known):
        return f"请假至 {c.at('excused_until')}，此后 "
    if known is not None:
        return f"网关 {c.at('known_from')} 才收到排班，此后 "
    return None


def _silent(c: Context) -> tuple[str, tuple[str, ...]]:
    if c.data.get("guard_name"):
        return (
            f"{c.who} 的终端自 {c.at('silent_since')} 起没有数据，已 {c.minutes('silent_s')}"
            f"（{c.post}）。",
            (),
        )
    reason = c.data.get("reason")
    return f"{c.who} 失联{f'（{reason}）' if reason else ''}，{c.at(None)} 起没有响应。", ()


_POSITION_QUALITY = {
    "fix": "本次定位",
    "fix_dropped": "本次定位（精度不足或已过时，仅供参考）",
    "fix_unchecked": "本次定位（非当班时间，未经校验）",
    "terminal_last_known": "终端上报的最后位置（无卫星定位）",
    "last_accepted": "最后一次有效定位",
}


def _sos(c: Context) -> tuple[str, tuple[str, ...]]:
    details: tuple[str, ...] = ()
    position = c.data.get("position")
    if isinstance(position, dict) and isinstance(position.get("lat"), int | float):
        quality = _POSITION_QUALITY.get(str(position.get("quality")), "位置")
        details = (f"{quality}：{position['lat']:.5f}, {position['lon']:.5f}（WGS-84）",)
    elif isinstance(position, dict):
        details = ("无任何位置信息，请电话联系。",)
    where = f"在 {c.post} " if c.data.get("on_duty") else "（非当班时间）"
    return f"**{c.who} 于 {c.at(None)} {where}按下 SOS 紧急求助，请立即联系！**", details


def _missed(c: Context) -> tuple[str, tuple[str, ...]]:
    return (
        f"{c.who} 漏巡：巡更点 {c.name_of('checkpoint_id')} 应在 {c.at('window_start')}–"
        f"{c.at('window_end')} 之间打点，未打点。",
        (),
    )


def _late_clock_in(c: Context) -> tuple[str, tuple[str, ...]]:
    return (
        f"{c.who} 的班次 {c.at('shift_start')} 开始，{_grace_from(c) or ''}{c.minutes('grace_s')}内"
        f"未在考勤机打卡（{c.post}）。",
        (),
    )


def _left_behind(c: Context) -> tuple[str, tuple[str, ...]]:
    apart = c.data.get("apart_m")
    far = f"，相距 {apart:.0f} 米" if isinstance(apart, int | float) else ""
    if c.data.get("checked_out"):
        away = "而其已在考勤机签退离岗"
    else:
        away = f"而另一设备 {c.name_of('away_device_id')} 已离岗{far}"
    return (
        f"{c.who} 的设备 {c.name_of('left_device_id')} 自 {c.at('still_since')} 起静止在 "
        f"{c.post}，{away}：人不在岗位。",
        (),
    )


def _left_early(c: Context) -> tuple[str, tuple[str, ...]]:
    if c.data.get("leave_id"):
        told = "请假外出，请假在下班前已到期"
    elif c.data.get("report_id"):
        told = "已口头报备"
    else:
        told = "未报备"
    return (
        f"{c.who} 于 {c.at('left_at')} {_left(c)} {c.post}（{told}），班次 {c.at('shift_end')} "
        "结束前未回，早退。",
        (),
    )


_WITHDRAWN_BECAUSE = {
    "report_on_record": "离岗前已口头报备",
    "leave_on_record": "请假在此之前已获批准",
    "cancelled_in_time": "已在时限内销假",
    # Evidence that came late: a terminal back from a blind area uploads the positions it
    # stored, an offline patrol wand is downloaded; they show him back on post (or on post at
    # the start) before the alert fell.
    "returned_before": "补传的定位或巡更记录显示其在告警前已回岗",
    "arrived_before": "补传的定位或巡更记录显示其在告警前已到岗",
    # A clock-in terminal back in network pushes the punches it kept.
    "checked_in_before": "考勤机补传的打卡记录显示其在告警前已签到",
}


# The two times a withdrawal's detail gives, by reason: (the field it needs, the first time,
# the second), each time a field and its label; ``None``: the withdrawal's own time, when the
# fact was typed in or the data came.
_WITHDRAWN_TIMES: dict[str, tuple[str, tuple[str, str], tuple[str | None, str]]] = {
    "report_on_record": ("entered_at", ("reported_at", "报备时间"), ("entered_at", "录入时间")),
    "leave_on_record": ("approved_at", ("approved_at", "请假批准时间"), (None, "录入时间")),
    "cancelled_in_time": ("cancelled_at", ("cancelled_at", "销假时间"), (None, "录入时间")),
    "returned_before": ("returned_at", ("returned_at", "回岗时间"), ("fell_at", "告警时间")),
    "arrived_before": ("arrived_at", ("arrived_at", "到岗时间"), ("fell_at", "告警时间")),
    "checked_in_before": ("checked_in_at", ("checked_in_at", "签到时间"), ("fell_at", "告警时间")),
}


def _withdrawn(c: Context) -> tuple[str, tuple[str, ...]]:
    withdrawn = c.data.get("withdrawn_type") or c.data.get("alert_type")
    what = short_title(ALERT_TITLES.get(str(withdrawn), "告警")) if withdrawn else "告警"
    reason = c.data.get("reason")
    because = _WITHDRAWN_BECAUSE.get(str(reason), str(reason) if reason else "")
    details: tuple[str, ...] = ()
    times = _WITHDRAWN_TIMES.get(str(reason))
    if times is not None and c.data.get(times[0]):
        (first, first_label), (second, second_label) = times[1:]
        details = (f"{first_label} {c.at(first)}，{second_label} {c.at(second)}",)
    return f"{c.who} 的「{what}」已撤销{f'：{because}' if because else ''}。", details


def _alert_named(c: Context) -> str:
    kind = c.data.get("alert_type")
    return short_title(ALERT_TITLES.get(str(kind), "告警")) if kind else "告警"


def _escalated(c: Context) -> tuple[str, tuple[str, ...]]:
    managers = c.data.get("managers")
    names = [display(m.get("name") or m.get("id")) for m in managers or () if isinstance(m, dict)]
    to = f"，已上报 {'、'.join(names)}" if names else ""
    # The manager's group saw none of it before: where he is posted, and since when he is away.
    away = (f"离岗时间 {c.at('started_at')}",) if c.data.get("started_at") else ()
    return (
        f"{c.who}（{c.post}）的「{_alert_named(c)}」自 {c.at('opened_at')} 起 "
        f"{c.minutes('unacknowledged_s')}无人确认{to}，请尽快处理。",
        away,
    )


def _resolved_by_hand(c: Context) -> tuple[str, tuple[str, ...]]:
    by = c.data.get("resolved_by")
    note = c.data.get("note")
    return (
        f"{c.who} 的「{_alert_named(c)}」已由 {by or '值班人员'} 于 {c.at(None)} 手动解除。",
        (f"说明：{note}",) if note else (),
    )


def _returned(c: Context) -> tuple[str, tuple[str, ...]]:
    return (
        f"{c.who} 于 {c.at('returned_at')} 回到 {c.post}，离岗 {c.minutes('duration_s')}。",
        (),
    )


def _arrived(c: Context) -> tuple[str, tuple[str, ...]]:
    return (
        f"{c.who} 于 {c.at('arrived_at')} 到岗 {c.post}"
        f"（班次开始后 {c.minutes('after_shift_start_s')}）。",
        (),
    )


def _resumed(c: Context) -> tuple[str, tuple[str, ...]]:
    silent = f"，中断 {c.minutes('silent_s')}" if c.data.get("silent_s") else ""
    return f"{c.who} 的终端于 {c.at(None)} 恢复数据{silent}。", ()


def _cancelled(c: Context) -> tuple[str, tuple[str, ...]]:
    return f"{c.who} 已于 {c.at('cancelled_at')} 销假（回岗后 {c.minutes('delay_s')}）。", ()


def _punched(c: Context) -> tuple[str, tuple[str, ...]]:
    return (
        f"{c.who} 于 {c.at('punched_at')} 打卡（班次开始后 {c.minutes('after_shift_start_s')}）。",
        (),
    )


def _scanned(c: Context) -> tuple[str, tuple[str, ...]]:
    return (
        f"{c.who} 于 {c.at('scanned_at')} 补巡 {c.name_of('checkpoint_id')}"
        f"（晚 {c.minutes('late_by_s')}）。",
        (),
    )


TEMPLATES: dict[str, Template] = {
    "alert.unreported_departure": _unreported,
    "alert.overtime_departure": _overtime,
    "alert.leave_overrun": _overrun,
    "alert.leave_not_cancelled": _not_cancelled,
    "alert.absent_at_shift_start": _absent,
    "alert.device_silent": _silent,
    "alert.sos": _sos,
    "alert.checkpoint_missed": _missed,
    "alert.late_clock_in": _late_clock_in,
    "alert.device_left_behind": _left_behind,
    "alert.left_early": _left_early,
    "alert.withdrawn": _withdrawn,
    "alert.escalated": _escalated,
    "alert.resolved": _resolved_by_hand,
    "presence.returned": _returned,
    "presence.arrived": _arrived,
    "presence.device_resumed": _resumed,
    "leave.cancelled": _cancelled,
    "attendance.punch": _punched,
    "patrol.checkpoint_scanned": _scanned,
}
