"""The shape of ``ShiftRow.kept_config``: what a shift's duty needs of a guard or post that a
site load took out of the file after the shift began.

The site loader writes it (``gateway.site.kept_duties``) from the rows it is about to delete
or rewrite (a guard moved to another site, team or leaders); the roster index reads it
(``gateway.pipeline.duty``) in place of those rows, and the robots' routing and the escalation
(``gateway.outbox.routing``, ``gateway.pipeline.escalation``) and the API's and live page's
scope (``gateway.api.shift_scope``) read the site, team and leaders the shift was kept with
(``kept_route``). All go through this module so they agree on the keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.models import ShiftRow

__all__ = ["KeptConfig", "KeptRoute", "kept_config", "kept_route", "kept_worn"]


class KeptConfig(TypedDict):
    """The guard's, the post's and the devices' part of a ``Duty``, as they stood at the load.

    ``device_ids`` are in the order ``Duty.device_ids`` wants them: the guard's own devices (his
    GPS terminal first, then by id), then the readers and terminals at the post bound to no
    guard, by id. ``wands`` are the offline patrol wands among them, ``worn`` the GPS terminals
    of the guard's own (absent from a config kept before the load kept them: ``kept_worn``).
    ``fence`` is the post's drawing as stored (``PostRow.fence``), in ``datum``. ``leaders`` are
    the leaders the guard named (``GuardRow.leader_ids``; empty: his team's); absent from a
    config kept before the load kept them, read as empty.
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


@dataclass(frozen=True, slots=True)
class KeptRoute:
    """Whom a shift that kept its config reports to: its own site (the shift row's), the team
    and the leaders its guard named (empty: his team's) as the load kept them; ``guard_id``,
    the shift's guard (a route counts for him alone)."""

    site_id: str
    team: str | None
    leaders: tuple[str, ...]
    guard_id: str


def kept_route(session: Session, shift_id: str | None) -> KeptRoute | None:
    """The route of ``shift_id`` as kept on its row; ``None`` when it kept nothing (its guard
    is the authority then), or for no shift. One primary-key query."""
    if shift_id is None:
        return None
    row = session.execute(
        select(ShiftRow.site_id, ShiftRow.guard_id, ShiftRow.kept_config).where(
            ShiftRow.id == shift_id
        )
    ).first()
    if row is None or row.kept_config is None:
        return None
    config = kept_config(row.kept_config)
    leaders = tuple(x for x in config.get("leaders", []) if isinstance(x, str))
    return KeptRoute(row.site_id, config["team"], leaders, row.guard_id)
