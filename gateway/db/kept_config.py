"""The shape of ``ShiftRow.kept_config``: what a shift's duty needs of a guard or post that a
site load took out of the file after the shift began.

The site loader writes it (``gateway.site.kept_duties``) from the rows it is about to delete;
the roster index reads it (``gateway.pipeline.duty``) in place of those rows, and the robots'
routing and the escalation (``gateway.outbox.routing``, ``gateway.pipeline.escalation``) read
the leaders he named from it (``kept_leaders``). All go through this module so they agree on
the keys.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.models import ShiftRow

__all__ = ["KeptConfig", "kept_config", "kept_leaders", "kept_worn"]


class KeptConfig(TypedDict):
    """The guard's, the post's and the devices' part of a ``Duty``, as they stood at the load.

    ``device_ids`` are in the order ``Duty.device_ids`` wants them: the guard's own devices (his
    GPS terminal first, then by id), then the readers and terminals at the post bound to no
    guard, by id. ``wands`` are the offline patrol wands among them, ``worn`` the GPS terminals
    of the guard's own (absent from a config kept before the load kept them: ``kept_worn``).
    ``fence`` is the post's
    drawing as stored (``PostRow.fence``), in ``datum``. ``leaders`` are the leaders the guard
    named (``GuardRow.leader_ids``; empty: his team's); absent from a config kept before the
    load kept them, read as empty.
    """

    guard_name: str
    team: str | None
    post_name: str
    fence: dict[str, Any]
    datum: str
    device_ids: list[str]
    wands: list[str]
    leaders: NotRequired[list[str]]
    worn: NotRequired[list[str]]


def kept_config(raw: dict[str, Any]) -> KeptConfig:
    """``raw`` (a ``ShiftRow.kept_config`` as read) typed; the loader wrote every key."""
    return cast(KeptConfig, raw)


def kept_worn(config: KeptConfig) -> tuple[str, ...]:
    """The GPS terminals the guard wore (``Duty.worn``). A config kept before the load kept
    them does not say which of its devices were: every one but the wands is taken for worn, as
    the rules did then (the device rows, and their kinds, went with the load)."""
    if "worn" in config:
        return tuple(config["worn"])
    wands = set(config["wands"])
    return tuple(d for d in config["device_ids"] if d not in wands)


def kept_leaders(session: Session, shift_id: str | None) -> list[str]:
    """The leaders the guard of ``shift_id`` named when a load took him out of the file, as
    kept on the shift row; empty when he named none (his team's leaders are meant), when
    nothing was kept, or for no shift. One query: asked only for a guard with no row."""
    if shift_id is None:
        return []
    raw = session.scalar(select(ShiftRow.kept_config).where(ShiftRow.id == shift_id))
    if raw is None:
        return []
    leaders = kept_config(raw).get("leaders", [])
    return [x for x in leaders if isinstance(x, str)]
