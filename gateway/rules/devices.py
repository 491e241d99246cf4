"""The guard's devices on a shift as the roster gives them now: ``DevicesAssigned``.

Internal to the package. A site load gives a guard another terminal (his broke, a badge was
added) or takes one away, and a state saved before the state kept which devices are worn took
the post's clock-in terminal or reader for one: the machine follows the roster before its next
step, so that a new terminal's fixes are his and only the GPS terminals he wears can go silent.

A silence open when he no longer wears any terminal can no longer end by one being heard (a
terminal taken from him never reports for him again; a clock-in terminal or reader at the post
is quiet between punches as a matter of course): it is withdrawn, ``alert.withdrawn`` with
reason ``not_worn``, once, dated when the gateway learned it. Withdrawn, not resolved: no
terminal was heard (``presence.device_resumed`` would say so), and the alert no longer says
anything true of a terminal he wears.
"""

from __future__ import annotations

from datetime import datetime

from gateway.policy import SitePolicy

from .copying import replace
from .entries import iso
from .events import ALERT_DEVICE_SILENT, Json, RuleEvent
from .inputs import DevicesAssigned
from .machine import Run
from .state import PresenceState

__all__ = ["assign"]

NOT_WORN = "not_worn"
"""The ``reason`` of the withdrawal of a silence whose guard wears no terminal any more."""


def assign(
    state: PresenceState, assigned: DevicesAssigned, now: datetime, policy: SitePolicy
) -> tuple[PresenceState, list[RuleEvent]]:
    """``state`` with the devices of ``assigned``; its open silence withdrawn when the guard
    wears no terminal any more. A device no longer his (a badge handed to a colleague) takes its
    track and held fixes with it: still in the booth, it would be his device left behind. A
    machine whose silence stays is not stepped (its deadlines and their lateness are as they
    were); one that ends it is, at ``now``."""
    gone = set(state.device_ids) - set(assigned.device_ids)
    state = replace(
        state,
        device_ids=assigned.device_ids,
        wands=assigned.wands,
        worn=assigned.worn,
        tracks=tuple(t for t in state.tracks if t.device_id not in gone),
        held=tuple(h for h in state.held if h.evidence.device_id not in gone),
    )
    since = state.silent_since
    if since is None or state.reports_live or state.ended:
        return state, []
    run = Run(state, now, policy)
    key = state.silence_key(since)
    run.state = replace(
        state,
        silent_since=None,
        resume_pending=None,
        silences=tuple(s for s in state.silences if s.since != since),
    )
    data: dict[str, Json] = {"silent_since": iso(since), "worn": list(assigned.worn)}
    run.withdraw(key, ALERT_DEVICE_SILENT, NOT_WORN, data)
    return run.finish()
