"""The messages a site load leaves without a group: those still waiting for a robot it removes.

A robot taken out of the site file gets no delivery worker at the next start, so its
undelivered outbox rows would wait for ever: never sent, never purged by retention (an
undelivered row is kept until delivered) and holding up the erasure of every guard they name
(``gateway.privacy.subject``). The company took the group out; the core keeps its own copy of
every event. So the load that removes the robot drops them, in its own transaction, and says
how many it dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.outbox.tables import OutboxRow, RobotRow, robot_destination
from gateway.site.checks import CheckedSite

__all__ = ["drop_removed_robots_queue", "robots_of"]


def robots_of(session: Session, checked: Sequence[CheckedSite]) -> set[str]:
    """The ids of the stored robots of the file's sites (read before the load clears them)."""
    sites = [c.entry.id for c in checked]
    return set(session.scalars(select(RobotRow.id).where(RobotRow.site_id.in_(sites))))


def drop_removed_robots_queue(
    session: Session, before: set[str], checked: Sequence[CheckedSite]
) -> list[str]:
    """Delete the undelivered outbox rows of the robots in ``before`` the file no longer
    names; returns a notice per robot that had any."""
    kept = {robot.id for c in checked for robot in c.entry.robots}
    notices = []
    for robot_id in sorted(before - kept):
        result = session.execute(
            delete(OutboxRow)
            .where(
                OutboxRow.destination == robot_destination(robot_id),
                OutboxRow.delivered_at.is_(None),
            )
            .execution_options(synchronize_session=False)
        )
        dropped = int(getattr(result, "rowcount", 0) or 0)
        if dropped:
            notices.append(
                f"group robot {robot_id!r} is removed: its {dropped} undelivered message(s) "
                "are dropped (the event history keeps every event)"
            )
    return notices
