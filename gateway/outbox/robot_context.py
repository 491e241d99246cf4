"""How a group robot's template reads an event: who, where, local times, minutes, the footer
(``Context``), and the Chinese part of a title or a name written ``中文 (English)``
(``short_title``, ``display``), the group reading Chinese.

Nothing here raises on an event missing a field or carrying one of the wrong type: the part
reads ``?`` (``岗位未知`` for an unknown post), so a message always goes out. Times are shown in
the site's zone given to ``Context``; durations under a minute in seconds, else in whole
minutes counted down, as ``HH:MM`` times are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

__all__ = ["Context", "display", "short_title"]

_GLOSS = re.compile(r"^(?P<zh>.*[\u4e00-\u9fff].*?)\s*\([\x20-\x7e]*\)$")


def short_title(title: str) -> str:
    """The Chinese part of a title: ``未报备离岗 (unreported departure)`` → ``未报备离岗``."""
    return title.split(" (", 1)[0]


def display(name: object) -> str:
    """A name written ``中文 (English)`` as in the sample site shows its Chinese part: the
    group reads Chinese. Other names are kept whole."""
    text = str(name)
    match = _GLOSS.match(text)
    return match["zh"] if match else text


class Context:
    """The parts every template uses: who, where, local times, minutes."""

    def __init__(
        self, event: Mapping[str, Any], data: dict[str, Any], tz: tzinfo, names: Mapping[str, str]
    ) -> None:
        self.event = event
        self.data = data
        self.tz = tz
        self.names = names
        subject = str(event.get("subject", "?"))
        name = data.get("guard_name")
        if name:
            self.who = f"{name} ({subject})"
        else:
            self.who = f"设备 {names.get(subject, subject)}"
        post = data.get("post_name") or data.get("post_id")
        self.post = display(post) if post else "岗位未知"

    def local(self, value: object) -> datetime | None:
        if not isinstance(value, str):
            return None
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(self.tz)
        except ValueError:
            return None

    def at(self, field: str | None) -> str:
        """``HH:MM`` local of ``data[field]`` (of the event's time when ``None``)."""
        value = self.event.get("time") if field is None else self.data.get(field)
        local = self.local(value)
        return "?" if local is None else f"{local:%H:%M}"

    def minutes(self, field: str) -> str:
        value = self.data.get(field)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return "? 分钟"
        if value < 60:
            return f"{value:.0f} 秒"
        return f"{int(value // 60)} 分钟"

    def name_of(self, field: str) -> str:
        ident = str(self.data.get(field) or "?")
        return display(self.names.get(ident, ident))

    def footer(self) -> str:
        parts = []
        local = self.local(self.event.get("time"))
        if local is not None:
            parts.append(f"{local.month}月{local.day}日 {local:%H:%M}")
        if self.data.get("team"):
            parts.append(f"班组 {self.data['team']}")
        parts.append(f"编号 {str(self.event.get('id', '?'))[:8]}")
        return " · ".join(parts)
