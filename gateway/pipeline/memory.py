"""What the pipeline remembers between batches: the roster and the presence rules' states.

One ``PipelineMemory`` is shared by the stages that need it and by the read-only views (the
``/whereabouts`` page); it belongs to the pipeline's owner thread, so it needs no lock. It is a
cache of the database: ``reload`` rebuilds the roster and the states from the committed rows,
which is how memory is brought back in step after a failed transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.models import AlertRow, PresenceStateRow
from gateway.pipeline.duty import DutyIndex
from gateway.records import PositionFix
from gateway.rules import PresenceState
from gateway.rules.alarms import SosEpisodes
from gateway.rules.events import ALERT_SOS

__all__ = ["LastFix", "PipelineMemory"]


@dataclass(frozen=True, slots=True)
class LastFix:
    """The newest accepted fix of a guard on duty, with the geofence verdict."""

    fix: PositionFix
    shift_id: str
    membership: str
    distance_m: float


@dataclass(slots=True, eq=False)
class PipelineMemory:
    """The in-memory state every batch starts from.

    ``duties`` is replaced (never mutated) by ``reload``, so a stage reads it through this object
    on every batch rather than keeping its own reference. ``presence`` holds the presence
    machines of open shifts; ``stored`` the shift ids that already have a saved state row (the
    save updates those and inserts the others). ``last_fix``, ``presence_since`` and
    ``reader_alerts`` are not saved: they feed the live view and the reader-state commands, and
    are rebuilt from the traffic after a restart.
    """

    duties: DutyIndex = field(default_factory=lambda: DutyIndex([], {}, {}, {}))
    presence: dict[str, PresenceState] = field(default_factory=dict)
    stored: set[str] = field(default_factory=set)
    last_fix: dict[str, LastFix] = field(default_factory=dict)
    """Guard id → his newest accepted fix."""
    presence_since: dict[str, datetime] = field(default_factory=dict)
    """Shift id → time of its last arrival, departure or return."""
    reader_alerts: dict[str, str] = field(default_factory=dict)
    """Device id → key of the open ``alert.device_silent`` of a reader that lost its device."""
    sos: SosEpisodes = field(default_factory=SosEpisodes)
    """Each terminal's SOS emergency under way (re-seeded from the open SOS alerts)."""

    def reload(self, session: Session, now: datetime, *, at_start: bool = False) -> None:
        """Re-read the roster around ``now`` and the saved states of its open shifts.

        ``at_start``: the process is starting, so nothing watched these states between their
        last step and ``now``; each is told so (``unwatched_from``/``unwatched_until``), and a
        deadline that came due meanwhile fires ``late`` whichever input reaches it first.
        """
        self.duties = DutyIndex.load(session, now)
        self.sos = SosEpisodes()
        open_sos = session.scalars(
            select(AlertRow).where(AlertRow.type == ALERT_SOS, AlertRow.status != "resolved")
        )
        for alert in open_sos:
            device_id = alert.data.get("device_id")
            if isinstance(device_id, str):
                self.sos.seed(device_id, alert.opened_at)
        rows = session.query(PresenceStateRow).all()
        self.stored = {row.shift_id for row in rows}
        self.presence = {}
        for row in rows:
            if self.duties.duty(row.shift_id) is None or row.state.get("closed"):
                continue
            state = PresenceState.from_json(row.state)
            if at_start and state.stepped_at is not None and state.stepped_at < now:
                state = replace(state, unwatched_from=state.stepped_at, unwatched_until=now)
            self.presence[row.shift_id] = state
