"""What a site load changes in the patrol machines under way (``PatrolStage.replan`` and
``PatrolStage.follow_load``): routes planned again, routes taken off, shifts' ends moved.

Both work on the stage's machines in place (``patrols``, marking each changed one dirty in the
batch's context) and read the routes' plans as the load left them (``plans``, by ``(post id,
route id)``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, MutableMapping
from datetime import datetime

from gateway.pipeline.context import BatchContext
from gateway.pipeline.duty import Duty, DutyIndex
from gateway.rules import RuleEvent, ShiftEnded
from gateway.rules import patrol as patrol_rules
from gateway.rules.copying import replace
from gateway.rules.patrol_plan import RoutePlan
from gateway.rules.patrol_state import PatrolState

__all__ = ["follow_ends", "replan_machines"]

Plans = Mapping[tuple[str, str], RoutePlan]


def replan_machines(
    patrols: MutableMapping[str, PatrolState],
    plans: Plans,
    changed: Collection[tuple[str, str]],
    duties: DutyIndex,
    ctx: BatchContext,
    now: datetime,
) -> list[tuple[Duty, RuleEvent]]:
    """Plan again, at ``now``, the machines of the ``changed`` routes: the rounds begun stay as
    they were, the later ones follow the new plan (``PatrolState.replanned``); a route taken
    off ends its machines as at a relief. Returns the events to emit, with their duty."""
    out: list[tuple[Duty, RuleEvent]] = []
    for machine_id, state in list(patrols.items()):
        key = (state.post_id, state.route_id)
        duty = duties.duty(state.shift_id)
        if key not in changed or state.closed or duty is None:
            continue
        plan = plans.get(key)
        events: list[RuleEvent] = []
        if plan is None:
            new, events = patrol_rules.step(state, ShiftEnded(), now, duty.patrol_policy)
        else:
            new = state.replanned(plan, duty.starts_at, now)
            due = patrol_rules.next_patrol_deadline(new, duty.patrol_policy)
            new = new if new is state else replace(new, next_deadline=due)
        if new != state:
            patrols[machine_id] = new
            ctx.dirty_patrols.add(machine_id)
        out.extend((duty, event) for event in events)
    return out


def follow_ends(
    patrols: MutableMapping[str, PatrolState],
    plans: Plans,
    duties: DutyIndex,
    ctx: BatchContext,
    now: datetime,
) -> None:
    """Give every machine whose shift's end a load moved (not cut short: that is a relief)
    that end: the rounds begun stay, the later ones are those that fit the new end. A round
    under way that the new end cuts ends there (``PatrolState.ended_at``): its checkpoints
    whose window closes after it are not due, as at a relief, not missed by a guard off duty."""
    for machine_id, state in list(patrols.items()):
        duty = duties.duty(state.shift_id)
        if duty is None or duty.cut_short or state.closed or state.shift_end == duty.ends_at:
            continue
        moved = replace(state, shift_end=duty.ends_at)
        plan = plans.get((state.post_id, state.route_id))
        if plan is not None:
            moved = moved.replanned(plan, duty.starts_at, now)
        if any(v.window_end > duty.ends_at for r in moved.rounds for v in r.visits):
            cut = duty.ends_at if state.ended_at is None else min(state.ended_at, duty.ends_at)
            moved = replace(moved, ended_at=cut)
        due = patrol_rules.next_patrol_deadline(moved, duty.patrol_policy)
        patrols[machine_id] = replace(moved, next_deadline=due)
        ctx.dirty_patrols.add(machine_id)
