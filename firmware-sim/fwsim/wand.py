"""A simulated offline patrol wand (巡更棒): it keeps what it touched and is downloaded later.

A wand stores ``(wand id, tag id, its own clock's time)`` for every checkpoint it touches, on a
clock of its own that drifts (``drift_s``: how far ahead of the true time it runs; negative:
behind), as local time without an offset, the way wands keep it. A download hands over its
whole memory as the CSV log ``wand_id,tag_id,time`` that ``POST /wands/{id}/downloads`` takes,
with the wand's clock read at that moment (the gateway corrects every record by the skew).
A wand downloaded twice gives its records again; the gateway keeps each once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["SimulatedWand"]


@dataclass
class SimulatedWand:
    """Wand ``wand_id`` in ``zone``, its clock ``drift_s`` seconds ahead of the true time."""

    wand_id: str
    zone: ZoneInfo
    drift_s: float = 0.0
    records: list[tuple[str, datetime]] = field(default_factory=list)
    """Each touch: the tag and the wand's clock then (local, naive)."""

    def clock(self, now: datetime) -> datetime:
        """What the wand's clock shows at the true instant ``now`` (aware, in its zone)."""
        return (now + timedelta(seconds=self.drift_s)).astimezone(self.zone)

    def touch(self, tag_id: str, now: datetime) -> None:
        """The guard touched the checkpoint carrying ``tag_id`` with the wand at ``now``."""
        self.records.append((tag_id, self.clock(now).replace(tzinfo=None)))

    def log_csv(self) -> str:
        """The download: every record, as the wand keeps it."""
        lines = ["wand_id,tag_id,time"]
        lines += [f"{self.wand_id},{tag},{when:%Y-%m-%d %H:%M:%S}" for tag, when in self.records]
        return "\n".join(lines) + "\n"
