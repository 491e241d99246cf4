"""Properties of the presence rules over generated days, not hand-picked ones.

An honest guard (on post all shift, his terminal reporting every 10 s to 5 min, with lone
multipath outliers and uncertain fixes among them) gets no alert, whatever reports, leaves and
cancellations his leaders type in around him and wherever the gateway restarts. A guard who
steps out once, cleanly, gets exactly the alerts the rules as written (docs/presence-rules.md)
give for that outing, and the same ones when the gateway restarts in between, including when
his terminal is out of network around it and uploads what it stored when it is back.

Where the generated days stop, and why: the outings stay clear of each rule's boundary by
``NEAR_S`` (which side a fix falls on there is the terminal's timing, not the rule); a
terminal's upload ends before the shift's end (one sent after it, while the end waits for it:
``test_presence_end_upload_properties``) and comes before its live fixes; a cancellation is
typed in once the return it settles is known. The examples are derandomized so the suite is
repeatable; raise ``max_examples`` locally to search further.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from gateway.rules import PresenceState, RuleInput
from geofence.membership import Membership
from tests.unit.rules.scenario import (
    Build,
    Scenario,
    cancel,
    fix,
    inside,
    leave,
    outside,
    report,
    restore,
    secs,
    shift,
    uncertain,
)

SHIFT_END_S = 4 * 3600.0
_PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Restart:
    """A marker in a script: the gateway restarts here (the state goes through its JSON)."""

    def __repr__(self) -> str:
        return "Restart()"


Item = tuple[float, Build | Restart]


def _play(
    script: list[Item], *, end_s: float = SHIFT_END_S, state: PresenceState | None = None
) -> Scenario:
    scenario = Scenario(state=shift(end_s) if state is None else state)
    for offset_s, item in sorted(script, key=lambda entry: entry[0]):
        scenario.advance(offset_s)
        if isinstance(item, Restart):
            scenario.state = restore(scenario.state)
        else:
            built: RuleInput = item(scenario.clock.now())
            scenario.feed(built)
    scenario.advance(end_s + 3 * 3600)
    return scenario


def _alerts(scenario: Scenario) -> list[tuple[str, float]]:
    return [pair for pair in scenario.pairs() if pair[0].startswith("alert.")]


@st.composite
def honest_fixes(draw: st.DrawFn) -> list[Item]:
    """On post from before the shift to after it: inside fixes, uncertain ones, and lone
    outside outliers each followed by an inside fix, 10 s to 5 min apart."""
    stream = random.Random(draw(st.integers(0, 2**32)))
    longest_gap = draw(st.sampled_from([30.0, 120.0, 300.0]))
    offset = -stream.uniform(30, 600)
    items: list[Item] = [(offset, inside)]  # seen on post before the start: he used no leave
    last_outside = False
    offset += stream.uniform(10, longest_gap)
    while offset < SHIFT_END_S + 300:
        kind = stream.choices(["in", "uncertain", "out"], weights=[8, 1, 1])[0]
        if last_outside or kind == "in":
            items.append((offset, inside))
            last_outside = False
        elif kind == "uncertain":
            items.append((offset, uncertain))
        else:
            items.append((offset, outside))
            last_outside = True
        offset += stream.uniform(10, longest_gap)
    return items


@st.composite
def paperwork(draw: st.DrawFn) -> list[Item]:
    """Reports, leaves and cancellations typed in at any time, for outings that never happen."""
    items: list[Item] = []
    for n in range(draw(st.integers(0, 3))):
        made = draw(st.floats(-1800, SHIFT_END_S))
        typed = made + draw(st.sampled_from([0.0, 30.0, 600.0, 3600.0]))
        items.append((typed, report(f"R{n}", filed_s=made)))
    for n in range(draw(st.integers(0, 3))):
        starts = draw(st.floats(-3600, SHIFT_END_S))
        ends = starts + draw(st.floats(300, 3 * 3600))
        approved = starts - draw(st.floats(0, 3600))
        typed = approved + draw(st.sampled_from([0.0, 60.0, 1800.0, 7200.0]))
        items.append((typed, leave(f"L{n}", starts, ends, approved_s=approved)))
        if draw(st.booleans()):
            cancelled = draw(st.floats(starts, ends + 7200))
            items.append((max(cancelled, typed) + 1, cancel(f"L{n}", cancelled_s=cancelled)))
    return items


@st.composite
def restarts(draw: st.DrawFn) -> list[Item]:
    return [
        (draw(st.floats(-600, SHIFT_END_S + 3600)), Restart())
        for _ in range(draw(st.integers(0, 3)))
    ]


@_PROPERTY
@given(honest_fixes(), paperwork(), restarts())
def test_an_honest_guard_gets_no_alert(
    fixes: list[Item], papers: list[Item], stops: list[Item]
) -> None:
    scenario = _play(fixes + papers + stops)
    assert _alerts(scenario) == []
    assert not [e for e in scenario.events if e.type == "presence.departed"]
    assert scenario.state.closed


def test_the_property_can_fail_on_two_outside_fixes_in_a_row() -> None:
    # The generator keeps outliers alone; two in a row a minute apart are a departure.
    script: list[Item] = [(s, inside) for s in range(-300, 3600, 60)]
    script += [(3630.0, outside), (3700.0, outside)]
    script += [(s, inside) for s in range(3760, int(SHIFT_END_S) + 300, 60)]
    scenario = _play(script)
    assert ("alert.unreported_departure", 3630.0) in _alerts(scenario)


@dataclass(frozen=True)
class Outing:
    """One outing, cleanly seen: inside fixes, then outside ones from ``left_s``, then inside
    ones from ``back_s``; ``first_out_s`` and ``first_in_s`` are the fixes that date it."""

    fixes: list[Item]
    first_out_s: float
    first_in_s: float
    offline: tuple[float, float] | None
    seen_live: list[Item] = field(default_factory=list)
    """The same positions, each sent when taken (the terminal never out of network)."""

    def __repr__(self) -> str:
        return (
            f"Outing(first_out_s={self.first_out_s!r}, first_in_s={self.first_in_s!r}, "
            f"offline={self.offline!r})"
        )


@st.composite
def outings(draw: st.DrawFn) -> Outing:
    """An outing of 5 min to 2 h in the first half of a 4 h shift, a fix every 7.5 s to 1 min;
    in some, the terminal is out of network for a while around it (not past the shift's end)
    and uploads the positions it stored when it is back, oldest first, before its live ones or
    just after the first of them (as JT/T 808 terminals may)."""
    stream = random.Random(draw(st.integers(0, 2**32)))
    longest_gap = draw(st.sampled_from([15.0, 30.0, 60.0]))
    left_s = draw(st.floats(1800, 6000))
    back_s = left_s + draw(st.floats(300, 7200))
    offline: tuple[float, float] | None = None
    live_first = False
    if draw(st.booleans()):
        cut = draw(st.floats(left_s - 600, back_s))
        offline = (cut, min(cut + draw(st.floats(60, 3 * 3600)), SHIFT_END_S - 600))
        live_first = draw(st.booleans())
    taken: list[float] = []
    offset = -300.0
    while offset < SHIFT_END_S + 300:
        taken.append(offset)
        offset += stream.uniform(longest_gap / 2, longest_gap)
    if offline is not None:
        # Live fixes resume a second after the terminal is back, or with one sent at once.
        taken = [t for t in taken if not offline[1] <= t < offline[1] + 1]
        taken = sorted([*taken, offline[1]] if live_first else taken)
    fixes: list[Item] = []
    seen_live: list[Item] = []
    first_out = first_in = None
    for offset in taken:
        out = left_s <= offset < back_s
        seen_live.append((offset, outside if out else inside))
        if out and first_out is None:
            first_out = offset
        if not out and offset >= back_s and first_in is None:
            first_in = offset
        if offline is not None and offline[0] <= offset < offline[1]:
            # Stored on the terminal, uploaded within a second of its coming back.
            sent = offline[1] + 0.01 + 0.98 * (offset - offline[0]) / (offline[1] - offline[0])
            fixes.append((sent, fix(_IN_OR_OUT[out], lag_s=sent - offset)))
        else:
            fixes.append((offset, outside if out else inside))
    assert first_out is not None and first_in is not None
    return Outing(fixes, first_out, first_in, offline, seen_live)


_IN_OR_OUT = {True: Membership.OUTSIDE, False: Membership.INSIDE}


NEAR_S = 90.0
"""Outcomes within this of a rule's boundary are not generated: which side a fix falls on there
is the terminal's timing, not the rule."""


@dataclass
class Expected:
    """What the rules as written say of one outing, and the script that makes it happen."""

    script: list[Item]
    standing: dict[str, int]
    paperwork: list[str]


def _paperwork_for(data: st.DataObject, out: Outing) -> Expected:
    left, back = out.first_out_s, out.first_in_s
    script: list[Item] = list(out.fixes)
    notes: list[str] = []
    reported = False
    report_kind = data.draw(st.sampled_from(["none", "before", "just_after", "too_late", "stale"]))
    if report_kind != "none":
        made = {
            "before": left - data.draw(st.floats(30, 1800 - 60)),
            "just_after": left + data.draw(st.floats(0, 120 - 30)),
            "too_late": left + data.draw(st.floats(150, back - left)),
            "stale": left - data.draw(st.floats(1800 + 60, 3600)),
        }[report_kind]
        typed = made + data.draw(st.sampled_from([0.0, 30.0, 600.0, 3600.0]))
        reported = report_kind in ("before", "just_after")
        if typed - made > 120:
            # A report typed in late covers no outing begun later than the grace after entry.
            limit = typed + 120
            if abs(left - limit) < 30:
                reject()
            reported = reported and left <= limit
        script.append((typed, report("R1", filed_s=made)))
        notes.append(f"report made {made} typed {typed}")
    on_leave = data.draw(st.booleans())
    leave_end = None
    cancelled_in_time = False
    if on_leave:
        starts = left - data.draw(st.floats(10, 3600))
        leave_end = left + data.draw(st.floats(300, 7200))
        if abs(back - leave_end) < NEAR_S:
            reject()
        approved = min(starts, left - 60) - data.draw(st.floats(0, 3600))
        leave_typed = approved + data.draw(st.sampled_from([0.0, 60.0, 1800.0, 7200.0]))
        script.append((leave_typed, leave("L1", starts, leave_end, approved_s=approved)))
        notes.append(f"leave {starts}-{leave_end} approved {approved} typed {leave_typed}")
        cancel_kind = data.draw(st.sampled_from(["none", "in_time", "late"]))
        if cancel_kind != "none":
            dated = back + (
                data.draw(st.floats(60, 3500))
                if cancel_kind == "in_time"
                else data.draw(st.floats(3700, 7000))
            )
            # Typed in once his return is known (see the module docstring).
            known = out.offline[1] if out.offline is not None else back
            typed = max(dated, leave_typed, known) + data.draw(
                st.sampled_from([1.0, 600.0, 5000.0])
            )
            script.append((typed, cancel("L1", cancelled_s=dated)))
            notes.append(f"cancelled {dated} typed {typed}")
            cancelled_in_time = cancel_kind == "in_time"
    else:
        # A leave of his that this outing has nothing to do with, later in the shift.
        if data.draw(st.booleans()):
            starts = back + data.draw(st.floats(600, 3600))
            script.append((starts - 600, leave("L9", starts, starts + 1800)))
            notes.append(f"other leave {starts}")
    standing: dict[str, int] = {}
    if not reported and not on_leave:
        standing["alert.unreported_departure"] = 1
    if back - left > 900 and not on_leave:
        # On a leave, its end is the limit (an overrun), not the 15 minutes.
        standing["alert.overtime_departure"] = 1
    if leave_end is not None and back > leave_end:
        standing["alert.leave_overrun"] = 1
    if on_leave and not cancelled_in_time:
        standing["alert.leave_not_cancelled"] = 1
    return Expected(script, standing, notes)


def _standing(scenario: Scenario) -> dict[str, int]:
    """How many alerts of each type stand at the end: raised and not withdrawn (a terminal's
    silence aside, which its network decides, not the outing)."""
    withdrawn = {key for e in scenario.events for key in e.withdraws}
    counts: dict[str, int] = {}
    for e in scenario.events:
        if e.type == "alert.device_silent":
            continue
        if e.type.startswith("alert.") and e.alert_key is not None and e.alert_key not in withdrawn:
            counts[e.type] = counts.get(e.type, 0) + 1
    return counts


@_PROPERTY
@given(outings(), st.data())
def test_one_outing_gets_the_alerts_the_rules_give_it(out: Outing, data: st.DataObject) -> None:
    if abs(out.first_in_s - out.first_out_s - 900) < NEAR_S:
        reject()
    expected = _paperwork_for(data, out)
    stops = data.draw(restarts())
    scenario = _play(expected.script + stops)
    happened = [(t, s) for t, s in scenario.pairs() if t != "presence.device_resumed"]
    assert _standing(scenario) == expected.standing, (expected.paperwork, stops, happened)
    [departed] = scenario.only("presence.departed")
    assert abs(secs(departed.time) - out.first_out_s) < 0.001
    assert scenario.state.closed  # every decision owed was taken, so the machine closed
