"""The silences a presence state keeps (``alert.device_silent`` raised), with their JSON form.

Times in the JSON form are ISO 8601 UTC strings; ``from_json`` gives back equal objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .entries import iso, opt_dt, opt_iso, opt_str, to_dt
from .events import ALERT_DEVICE_SILENT, Json, event_key

__all__ = ["Silence"]


@dataclass(frozen=True, slots=True)
class Silence:
    """An ``alert.device_silent`` raised at ``raised_at`` for a terminal quiet since ``since``
    (its episode) and heard again at ``resumed_at`` (``None``: still quiet), kept while a leave
    entered later may still show it wrong. ``shift_id``: the shift that raised it, when not
    the one keeping it (a double shift's first, which handed the silence on)."""

    since: datetime
    raised_at: datetime
    resumed_at: datetime | None = None
    shift_id: str | None = None

    def alert_key(self, own_shift_id: str) -> str:
        """The key of its ``alert.device_silent``, kept by the shift ``own_shift_id``."""
        return event_key(self.shift_id or own_shift_id, ALERT_DEVICE_SILENT, iso(self.since))

    def to_json(self) -> dict[str, Json]:
        return {
            "since": iso(self.since),
            "raised_at": iso(self.raised_at),
            "resumed_at": opt_iso(self.resumed_at),
            "shift_id": self.shift_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Silence:
        return cls(
            since=to_dt(data["since"]),
            raised_at=to_dt(data["raised_at"]),
            resumed_at=opt_dt(data.get("resumed_at")),
            shift_id=opt_str(data.get("shift_id")),
        )
