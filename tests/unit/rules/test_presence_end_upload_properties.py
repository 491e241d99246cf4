"""One outing near the end of the shift, the terminal out of network over the end, generated:
what it uploads after the end decides as if it had come live.

The rules as written (docs/presence-rules.md, "The end of the shift"): the end waits up to
``end_upload_wait_s`` for a terminal quiet at it, and the positions dated inside the shift that
it sends meanwhile are judged as any upload. So the alerts that stand are those of the same
outing seen live (``test_presence_end_properties``' oracle): *left early* only if he was not
back by the end, *overtime* only if the 15 minutes ran out inside the shift, whatever the clock
raised while the terminal was quiet. The terminal goes quiet 2 to 45 minutes before the end, or
is never heard before (a basement post), and sends what it stored within the wait; what it
takes after the end is off duty (the pipeline gives it to no machine of this shift, so it is
not fed here). The same holds with a badge left on the booth's table reporting to the end
(``test_presence_two_devices_properties``): the phone he carries is the terminal the end waits
for.

Sent after the wait instead (``test_an_upload_after_the_wait_withdraws_what_live_would_not_raise``),
the upload is history, but the return it shows before the end withdraws the alerts the clock
raised that live would not have (``gateway.rules.late_return``): for an outing the terminal had
shown confirmed before it went quiet, the same alerts stand as live.
"""

from __future__ import annotations

from hypothesis import given, reject
from hypothesis import strategies as st

from gateway.policy import SitePolicy
from geofence.membership import Membership
from tests.unit.rules.scenario import Build, fix, inside, outside, secs
from tests.unit.rules.test_presence_end_properties import (
    CONFIRM_S,
    outings_near_the_end,
    what_the_end_gives,
)
from tests.unit.rules.test_presence_properties import (
    _PROPERTY,
    SHIFT_END_S,
    Item,
    Outing,
    Restart,
    _play,
    _standing,
    restarts,
)
from tests.unit.rules.test_presence_two_devices_properties import (
    _two_device_shift,
    badge_in_the_booth,
)

WAIT_S = SitePolicy().end_upload_wait_s


def _quiet_over_the_end(out: Outing, quiet_s: float, sent_s: float) -> list[Item]:
    """``out``'s fixes, those taken from ``quiet_s`` to the end stored and sent at ``sent_s``,
    oldest first, within a second; those taken after the end dropped."""
    fixes: list[Item] = []
    stored = [(t, b) for t, b in out.fixes if quiet_s <= t < SHIFT_END_S]
    for t, build in out.fixes:
        if t < quiet_s:
            fixes.append((t, build))
    for n, (t, build) in enumerate(stored):
        sent = sent_s + 0.01 + n * 0.98 / max(len(stored), 1)
        fixes.append((sent, fix(_membership(build), lag_s=sent - t)))
    return fixes


def _membership(build: Build | Restart) -> Membership:
    """What a live fix of ``outings_near_the_end`` shows, for the stored copy of it."""
    assert build is inside or build is outside
    return Membership.INSIDE if build is inside else Membership.OUTSIDE


def _check(
    out: Outing, data: st.DataObject, badge: list[Item] | None = None, *, whole_shift: bool = False
) -> None:
    """The property, for ``out`` alone or with ``badge``'s fixes sent before the end; with
    ``whole_shift``, the terminal never heard before its upload."""
    expected, standing = what_the_end_gives(out, data)
    if whole_shift:
        quiet_s = min(t for t, _ in out.fixes)
    else:
        quiet_s = SHIFT_END_S - data.draw(st.floats(120, 2700), label="quiet before the end")
    sent_s = SHIFT_END_S + data.draw(st.floats(1, WAIT_S - 60), label="sent after the end")
    paperwork = [item for item in expected.script if item not in out.fixes]
    stops = data.draw(restarts())
    script = _quiet_over_the_end(out, quiet_s, sent_s) + paperwork + stops
    state = None
    if badge is not None:
        script += [(t, b) for t, b in badge if t < SHIFT_END_S]
        state = _two_device_shift()
    scenario = _play(script, state=state)
    happened = [(t, s) for t, s in scenario.pairs() if t != "presence.device_resumed"]
    # Whether the badge is reported left behind depends on whether one of its fixes fell
    # between the departure and the end; what the end decides does not.
    found = {k: v for k, v in _standing(scenario).items() if k != "alert.device_left_behind"}
    assert found == standing, (expected.paperwork, stops, happened)
    [departed] = scenario.only("presence.departed")
    assert abs(secs(departed.time) - out.first_out_s) < 0.001
    assert scenario.state.closed  # every decision owed was taken, so the machine closed


@_PROPERTY
@given(outings_near_the_end(), st.data())
def test_an_upload_after_the_end_decides_as_if_it_had_come_live(
    out: Outing, data: st.DataObject
) -> None:
    _check(out, data)


@_PROPERTY
@given(outings_near_the_end(), st.data())
def test_an_upload_after_the_end_of_a_terminal_never_heard_before_decides_as_live(
    out: Outing, data: st.DataObject
) -> None:
    # A basement post: out of network from before the start to the end. The end waits for
    # its terminal as for one that went quiet; the absence the clock raised is withdrawn and
    # the silence is the network's (neither counted by ``_standing``).
    _check(out, data, whole_shift=True)


@_PROPERTY
@given(outings_near_the_end(), badge_in_the_booth(), st.data())
def test_the_same_with_a_badge_left_in_the_booth_heard_to_the_end(
    out: Outing, badge: list[Item], data: st.DataObject
) -> None:
    # The badge on the booth's table reports to the end; the phone he carries is the one
    # quiet over it: the end waits for the phone.
    _check(out, data, badge)


@_PROPERTY
@given(outings_near_the_end(), st.data())
def test_an_upload_after_the_wait_withdraws_what_live_would_not_raise(
    out: Outing, data: st.DataObject
) -> None:
    expected, standing = what_the_end_gives(out, data)
    quiet_s = SHIFT_END_S - data.draw(st.floats(120, 2700), label="quiet before the end")
    seen_out = [t for t, build in out.fixes if build is outside and t < quiet_s]
    if not seen_out or max(seen_out) - min(seen_out) < CONFIRM_S + 1:
        reject()  # a departure only the late upload shows is history: not judged at all
    sent_s = SHIFT_END_S + WAIT_S + data.draw(st.floats(60, 3600), label="sent after the wait")
    paperwork = [item for item in expected.script if item not in out.fixes]
    stops = data.draw(restarts())
    scenario = _play(_quiet_over_the_end(out, quiet_s, sent_s) + paperwork + stops)
    happened = [(t, s) for t, s in scenario.pairs() if t != "presence.device_resumed"]
    assert _standing(scenario) == standing, (expected.paperwork, stops, happened)
    assert scenario.state.closed
