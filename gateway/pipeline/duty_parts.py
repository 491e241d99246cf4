"""The part of a ``Duty`` that comes from its guard, its post and their devices, rather than
from the shift row: read from their rows, or, for a guard or post a site load took out of the
file after the shift began, from what the load kept on the shift row (``ShiftRow.kept_config``,
``gateway.site.kept_duties``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.db.kept_config import kept_config, kept_worn
from geofence import PostFence

__all__ = ["DutyDevices", "DutyPart", "kept_part"]


@dataclass(frozen=True, slots=True)
class DutyPart:
    """What a ``Duty`` takes from its guard, its post and their devices."""

    guard_name: str
    team: str | None
    post_name: str
    fence: PostFence
    device_ids: tuple[str, ...]
    """The guard's own devices (GPS terminal first), then the readers/terminals at his post."""
    wands: tuple[str, ...]
    """The offline patrol wands among ``device_ids``."""
    worn: tuple[str, ...]
    """The GPS terminals of the guard among ``device_ids`` (``Duty.worn``)."""


@dataclass(frozen=True, slots=True)
class DutyDevices:
    """Which devices count for a duty: a guard's own, his GPS terminal first; then the readers
    and terminals standing at his post for nobody in particular, which count as his for the
    presence rules while he is on duty there. Shared by the roster index and the site load
    that keeps a leaving guard's or post's part, so both order them alike."""

    own: dict[str, list[str]]
    at_post: dict[str, list[str]]
    wands: frozenset[str]
    gps: frozenset[str]

    @classmethod
    def of(cls, devices: Iterable[Any]) -> DutyDevices:
        """From device rows (with ``id``, ``kind``, ``guard_id`` and ``post_id``)."""
        rows = list(devices)
        own: dict[str, list[str]] = defaultdict(list)
        for device in sorted(rows, key=lambda d: (d.kind != "gps", d.id)):
            if device.guard_id is not None:
                own[device.guard_id].append(device.id)
        at_post: dict[str, list[str]] = defaultdict(list)
        for device in sorted(rows, key=lambda d: d.id):
            if device.post_id is not None and device.guard_id is None:
                at_post[device.post_id].append(device.id)
        wands = frozenset(d.id for d in rows if d.kind == "patrol_wand")
        return cls(own, at_post, wands, frozenset(d.id for d in rows if d.kind == "gps"))

    def of_duty(
        self, guard_id: str, post_id: str
    ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """``guard_id``'s devices on duty at ``post_id`` (``Duty.device_ids``), the offline
        patrol wands among them (``Duty.wands``) and the GPS terminals of his own he wears
        (``Duty.worn``)."""
        own = self.own.get(guard_id, ())
        device_ids = (*own, *self.at_post.get(post_id, ()))
        wands = tuple(d for d in device_ids if d in self.wands)
        return device_ids, wands, tuple(d for d in own if d in self.gps)


def kept_part(raw: dict[str, Any]) -> DutyPart:
    """The part a site load kept (``raw``: a ``ShiftRow.kept_config`` as read). The fence is
    drawn in its own plane, not the site's: the post may be the site's no longer, and no rule
    measures across two posts' planes."""
    config = kept_config(raw)
    return DutyPart(
        guard_name=config["guard_name"],
        team=config["team"],
        post_name=config["post_name"],
        fence=PostFence.from_geojson(config["fence"], datum=config["datum"]),
        device_ids=tuple(config["device_ids"]),
        wands=tuple(config["wands"]),
        worn=kept_worn(config),
    )
