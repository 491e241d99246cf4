"""A guard's terminal going silent and heard again: the ``SILENT`` and ``RESUME`` decisions.

Internal to the package, as :mod:`gateway.rules.offpost`: functions of the step's ``Run``.
``alert.device_silent`` falls when no fix was received for ``device_silent_s``
(``deadlines.silence_due`` says when) from a guard who wears a terminal
(``PresenceState.reports_live``; the alert's ``device_ids`` are those terminals: a clock-in
terminal or reader at his post is quiet between punches as a matter of course);
``presence.device_resumed`` resolves it once the terminal is heard again, live, or after the
events an old upload revealed (``resume_pending``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from .copying import replace
from .deadlines import Deadline
from .entries import FixEvidence, iso
from .events import ALERT_DEVICE_SILENT, PRESENCE_DEVICE_RESUMED
from .silences import Silence

if TYPE_CHECKING:
    from .machine import Run

__all__ = ["SILENCES_KEPT", "decide_silent", "resume", "resumed"]

SILENCES_KEPT = 16
"""Silence alerts kept in the state, newest last, for a leave entered later to withdraw."""


def decide_silent(run: Run, deadline: Deadline) -> None:
    """Raise ``alert.device_silent`` for the silence ``deadline`` ends the wait of."""
    since = deadline.due - timedelta(seconds=run.policy.device_silent_s)
    silences = (*run.state.silences, Silence(since, deadline.due))[-SILENCES_KEPT:]
    run.state = replace(run.state, silent_since=since, silences=silences)
    last = run.state.last_received_at
    run.emit(
        ALERT_DEVICE_SILENT,
        deadline.due,
        iso(since),
        {
            "device_ids": list(run.state.worn),
            "last_received_at": None if last is None else iso(last),
            "silent_since": iso(since),
            "silent_s": run.policy.device_silent_s,
        },
        deadline=deadline,
        alert=True,
    )


def resume(run: Run) -> None:
    """The terminal heard by old data (``resume_pending``), now that what it revealed is out."""
    evidence = run.state.resume_pending
    assert evidence is not None
    run.state = replace(run.state, resume_pending=None)
    resumed(run, evidence)


def resumed(run: Run, evidence: FixEvidence) -> None:
    """The silent terminal is heard again: ``presence.device_resumed``, dated when it was
    heard (reception time), never backfilled."""
    since = run.state.silent_since
    if since is None:
        return
    heard = evidence.received_at
    silences = tuple(
        replace(s, resumed_at=heard) if s.since == since and s.resumed_at is None else s
        for s in run.state.silences
    )
    silent_key = run.state.silence_key(since)
    run.state = replace(run.state, silent_since=None, silences=silences)
    run.emit(
        PRESENCE_DEVICE_RESUMED,
        evidence.received_at,
        iso(since),
        {
            "silent_since": iso(since),
            "silent_s": (evidence.received_at - since).total_seconds(),
            "fix": evidence.to_json(),
        },
        resolves=(silent_key,),
        device_id=evidence.device_id,
        live=True,
    )
