"""Which group robots an event goes to, chosen when it is written to the outbox.

An event goes to a robot when it is for leaders' eyes: an ``alert.*``, or an event that resolves
an alert (a return, an arrival, a resumed terminal, a leave cancelled, a late check-in or scan).
Everything else (positions confirmed, punches on time, scans in their window) goes to the core
only, without a database query.

A guard's alert goes to every robot of his site that covers him: a robot of his team, a robot
of one of his leaders (the guard's ``leaders``, or his team's leaders when he names none), and
the site's own robots (neither ``teams`` nor ``leaders``). An alert whose subject is a device (a
reader that lost its device) goes to the site's own robots. An escalation
(``alert.escalated``) goes besides to the robots of the leaders it names (``data.escalated_to``)
and of their teams, and so does whatever ends the alert later: a hand resolution names them
itself; an event that ends or withdraws it as a side effect is routed again with them once the
batch's alert changes show it was escalated (``gateway.pipeline.pending``). The choice reads
the configuration in the writing transaction, so it follows every site load at once.

The guard's row is the authority on his team and leaders, but for a shift a site load ended
while he was another site's, another team's or other leaders' guard: moved (or taken out of
the file altogether) during his shift, he still owes that shift's alerts (a leave never
cancelled, an early leave), and they go to the groups that shift had. Such a shift kept at that
load its site, team and named leaders (``gateway.db.kept_config.kept_route``, found by the
data's ``shift_id``); his shifts since go by his row. The kept route is looked for only when
the event's ``site_id`` or ``team`` (its shift's, ``gateway.pipeline.duty``) differs from his
row's, when he has no row, or when a robot of his site covers leaders (his named leaders alone
may have changed): at a site whose groups are its own and its teams', an event of a shift
under way costs no query. A guard with no row and no kept shift (taken out before shifts kept
it) goes by the ``team`` his event's data carries. What an event says never widens the groups
of a guard: the shift row decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.kept_config import KeptRoute, kept_route
from gateway.db.models import DeviceRow, GuardRow, LeaderRow
from gateway.outbox.tables import RobotRow, robot_destination

__all__ = ["ExtraDestinations", "RobotRouter", "for_robots"]


class ExtraDestinations(Protocol):
    """Destinations an event goes to besides the core (``Processor(route=...)``)."""

    def __call__(
        self,
        session: Session,
        *,
        type: str,
        subject: str,
        data: Mapping[str, Any],
        resolves: bool,
    ) -> Sequence[str]: ...


def for_robots(type: str, resolves: bool) -> bool:
    """Whether leaders' groups see an event of ``type`` (``resolves``: it ends an alert)."""
    return type.startswith("alert.") or resolves


class RobotRouter:
    """The group robots covering an event's guard (see the module docstring)."""

    def __call__(
        self,
        session: Session,
        *,
        type: str,
        subject: str,
        data: Mapping[str, Any],
        resolves: bool,
    ) -> Sequence[str]:
        if not for_robots(type, resolves):
            return ()
        by_site = _robots(session)
        if not by_site:
            return ()  # no robot anywhere: nothing to look up, event after event
        guard = session.get(GuardRow, subject)
        kept = _kept(session, guard, data, by_site)
        if kept is not None:
            site_id: str | None = kept.site_id
        elif guard is not None:
            site_id = guard.site_id
        else:
            site_id = _str(data.get("site_id"))
        if site_id is None:
            device = session.get(DeviceRow, subject)
            site_id = device.site_id if device is not None else None
        if site_id is None:
            return ()
        robots = by_site.get(site_id, [])
        if not robots:
            return ()
        named: list[str]
        if kept is not None:
            team, named = kept.team, list(kept.leaders)
        elif guard is not None:
            team, named = guard.team, list(guard.leader_ids)
        else:
            # No row, nothing kept: a guard out of the file (or a device, naming no shift).
            team, named = _str(data.get("team")), []
        leaders: set[str] = set()
        if (team is not None or named) and any(r.leader_ids for r in robots):
            leaders = set(named) or self._team_leaders(session, site_id, team)
        teams = {team} if team is not None else set()
        above = data.get("escalated_to")
        if isinstance(above, list) and above:
            leaders.update(str(x) for x in above)
            stmt = select(LeaderRow.team).where(LeaderRow.id.in_([str(x) for x in above]))
            teams.update(t for t in session.scalars(stmt) if t is not None)
        chosen = []
        for robot in robots:
            whole_site = not robot.teams and not robot.leader_ids
            if (
                whole_site
                or teams.intersection(robot.teams)
                or leaders.intersection(robot.leader_ids)
            ):
                chosen.append(robot_destination(robot.id))
        return chosen

    @staticmethod
    def _team_leaders(session: Session, site_id: str, team: str | None) -> set[str]:
        if team is None:
            return set()
        stmt = select(LeaderRow.id).where(LeaderRow.site_id == site_id, LeaderRow.team == team)
        return set(session.scalars(stmt))


def _kept(
    session: Session,
    guard: GuardRow | None,
    data: Mapping[str, Any],
    robots: Mapping[str, list[RobotRow]],
) -> KeptRoute | None:
    """The route the event's shift kept at a load, when its data says it is not the shift of
    the guard's row as it stands (see the module docstring)."""
    shift_id = _str(data.get("shift_id"))
    if shift_id is None:
        return None
    if guard is not None:
        site_id = data.get("site_id")
        other_site = site_id is not None and site_id != guard.site_id
        other_team = "team" in data and data["team"] != guard.team
        # Leaders alone may have changed: they matter only to a robot covering leaders.
        by_leader = any(r.leader_ids for r in robots.get(guard.site_id, ()))
        if not (other_site or other_team or by_leader):
            return None
    return kept_route(session, shift_id)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _robots(session: Session) -> dict[str, list[RobotRow]]:
    """Every robot by site (ordered by id), read once per transaction: a tick may route
    thousands of alerts, and robots change only with a site load, in a transaction of its own."""
    cached = session.info.get(_CACHE)
    transaction = session.get_transaction()
    if cached is not None and transaction is not None and cached[0] is transaction:
        robots: dict[str, list[RobotRow]] = cached[1]
        return robots
    robots = {}
    for robot in session.scalars(select(RobotRow).order_by(RobotRow.id)):
        robots.setdefault(robot.site_id, []).append(robot)
    # Keyed by the transaction the query ran in (begun by it, if none was): the next one reads
    # the robots again, and so follows a site load committed in between.
    session.info[_CACHE] = (session.get_transaction(), robots)
    return robots


_CACHE = "gateway.outbox.routing.robots"
