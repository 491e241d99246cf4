"""The shape of ``ShiftRow.kept_config``: what a shift's duty needs of a guard or post that a
site load took out of the file after the shift began.

The site loader writes it (``gateway.site.kept_duties``) from the rows it is about to delete;
the roster index reads it (``gateway.pipeline.duty``) in place of those rows. Both sides go
through this module so the two agree on the keys.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

__all__ = ["KeptConfig", "kept_config"]


class KeptConfig(TypedDict):
    """The guard's, the post's and the devices' part of a ``Duty``, as they stood at the load.

    ``device_ids`` are in the order ``Duty.device_ids`` wants them: the guard's own devices (his
    GPS terminal first, then by id), then the readers and terminals at the post bound to no
    guard, by id. ``wands`` are the offline patrol wands among them. ``fence`` is the post's
    drawing as stored (``PostRow.fence``), in ``datum``.
    """

    guard_name: str
    team: str | None
    post_name: str
    fence: dict[str, Any]
    datum: str
    device_ids: list[str]
    wands: list[str]


def kept_config(raw: dict[str, Any]) -> KeptConfig:
    """``raw`` (a ``ShiftRow.kept_config`` as read) typed; the loader wrote every key."""
    return cast(KeptConfig, raw)
