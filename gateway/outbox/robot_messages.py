"""What a leaders' group reads: alerts and their follow-ups as short Chinese messages.

A message is rendered from the outbox row's CloudEvent at delivery time, in the site's time zone:
who (name and id), where (the post), when (local ``HH:MM``), what happened in words, durations in
minutes. Titles are Chinese first with the English term after, as in the implementation rules,
e.g. ``未报备离岗 (unreported departure)``::

    ### 未报备离岗 (unreported departure)
    赵军 (g-004) 于 08:06 离开 中心花园巡逻岗，未报备。
    > 3月2日 08:06 · 班组 A · 编号 3f2a9c1d

An event that resolves an alert (a return, an arrival, a withdrawal...) becomes a short follow-up.
``编号`` is the start of the event id: the same alert always carries the same number, so a leader
can quote it, and a receiver can tell a repeat from a new alert.

Several messages waiting for one group go out as one digest (:func:`pack_digest`), in order.
Every message fits WeCom's 4096-byte limit on markdown content (the stricter of the two).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from gateway.outbox.robot_context import Context, short_title
from gateway.outbox.robot_templates import ALERT_TITLES, FOLLOW_UP_TITLES, TEMPLATES

__all__ = [
    "ALERT_TITLES",
    "FOLLOW_UP_TITLES",
    "MAX_MESSAGE_BYTES",
    "RobotMessage",
    "RobotText",
    "pack_digest",
    "render",
    "single",
]

_LATE_MEANS_THE_GUARD = frozenset({"attendance.punch", "patrol.checkpoint_scanned"})
"""Types whose ``late`` says the guard was late (a check-in, a scan); elsewhere it says a
deadline fired late because the gateway was down (patrol and attendance call that
``fired_late``)."""

MAX_MESSAGE_BYTES = 4000
"""WeCom refuses markdown content over 4096 bytes; the rest is headroom for line breaks."""


@dataclass(frozen=True, slots=True)
class RobotText:
    """One event in words: ``title``, the ``headline`` sentence, ``details`` lines, ``footer``.

    ``follow_up``: it resolves an earlier alert (rendered shorter); ``urgent``: an SOS, never
    held behind other messages nor merged into a digest.
    """

    event_type: str
    title: str
    headline: str
    details: tuple[str, ...]
    footer: str
    follow_up: bool
    urgent: bool


@dataclass(frozen=True, slots=True)
class RobotMessage:
    """A message as posted: ``title`` (DingTalk shows it in notifications) and markdown lines."""

    title: str
    lines: tuple[str, ...]
    count: int = 1
    """How many events it carries (more than one: a digest)."""

    def markdown(self, separator: str = "\n") -> str:
        """The lines joined by ``separator`` (DingTalk needs a blank line between paragraphs)."""
        return separator.join(self.lines)


def render(
    event: Mapping[str, Any], tz: tzinfo, names: Mapping[str, str] | None = None
) -> RobotText:
    """``event`` (a CloudEvent as stored in the outbox) in words, times in ``tz``.

    ``names`` maps ids the event carries (checkpoints, devices) to display names. Unknown alert
    types still render, with their type as the title; missing fields read ``?``.
    """
    kind = str(event.get("type", ""))
    data: dict[str, Any] = dict(event.get("data") or {})
    ctx = Context(event, data, tz, names or {})
    follow_up = not kind.startswith("alert.") or kind in ("alert.withdrawn", "alert.resolved")
    template = TEMPLATES.get(kind)
    if template is not None:
        headline, details = template(ctx)
    elif follow_up:
        headline, details = f"{ctx.who} {ctx.at(None)}：{kind}，告警解除。", ()
    else:
        headline, details = f"{ctx.who} 在 {ctx.post} {ctx.at(None)}：{kind}。", ()
    title = (FOLLOW_UP_TITLES if follow_up else ALERT_TITLES).get(kind, kind)
    if data.get("fired_late") is True or (
        data.get("late") is True and kind not in _LATE_MEANS_THE_GUARD
    ):
        headline += "（网关恢复后补报）"  # a deadline that passed while the gateway was down
    elif data.get("backfilled") is True:
        headline += "（补传数据发现）"  # revealed by positions a terminal uploaded late
    return RobotText(
        event_type=kind,
        title=title,
        headline=headline,
        details=details,
        footer=ctx.footer(),
        follow_up=follow_up,
        urgent=kind == "alert.sos",
    )


def single(text: RobotText) -> RobotMessage:
    """One event as a message of its own (a follow-up is one line shorter)."""
    heading = "#### " if text.follow_up else "### "
    lines = (heading + text.title, text.headline, *text.details, "> " + text.footer)
    return RobotMessage(text.title, _fit(lines))


def pack_digest(texts: Sequence[RobotText], max_bytes: int = MAX_MESSAGE_BYTES) -> RobotMessage:
    """As many of ``texts`` as fit in one message (at least the first), numbered in order.

    ``count`` of the result says how many were taken; the caller sends the rest later.
    """
    if not texts:
        raise ValueError("a digest needs at least one event")
    closing = "> 本群消息已达每分钟上限，以上按发生顺序合并发送。"
    lines: list[str] = []
    for n, text in enumerate(texts, start=1):
        entry = f"{n}. **{short_title(text.title)}** {text.headline}（{text.footer}）"
        candidate = [*lines, entry]
        head = f"### 告警汇总 (digest) · {len(candidate)} 条"
        if lines and _size([head, *candidate, closing]) > max_bytes:
            break
        lines = candidate
    title = f"告警汇总 (digest) · {len(lines)} 条"
    return RobotMessage(title, _fit(("### " + title, *lines, closing)), count=len(lines))


def _size(lines: Sequence[str]) -> int:
    return sum(len(line.encode("utf-8")) + 2 for line in lines)


def _fit(lines: Sequence[str], max_bytes: int = MAX_MESSAGE_BYTES) -> tuple[str, ...]:
    """``lines`` cut to ``max_bytes`` (counting a two-byte break per line), ending in ``…``."""
    out: list[str] = []
    for line in lines:
        if _size([*out, line]) <= max_bytes:
            out.append(line)
            continue
        room = max_bytes - _size(out) - 2 - len("…".encode())
        cut = line.encode("utf-8")[: max(0, room)].decode("utf-8", "ignore")
        out.append(cut + "…")
        break
    return tuple(out)
