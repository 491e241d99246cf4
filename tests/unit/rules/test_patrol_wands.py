"""Rounds walked with an offline wand are judged when the wand is downloaded
(``gateway.rules.patrol_wands``). The route of ``test_patrol_rules``: A, B, C with windows
[0, 10], [10, 20], [20, 30] minutes into each round, a round every hour of the two-hour shift,
5 minutes' tolerance. The wand's scans reach the machine only at its download, as the API's
import gives them: in device-time order, then ``WandDownloaded``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.rules import RuleEvent, ShiftEnded, Tick
from gateway.rules.patrol_policy import PatrolPolicy
from gateway.rules.patrol_state import PatrolState
from gateway.rules.patrol_wands import WandDownloaded, told_of

from .test_patrol_rules import Patrol, at, scan

WAND = "wand-01"


def _walked_with(*wands: str, policy: PatrolPolicy | None = None) -> Patrol:
    patrol = Patrol(policy=policy or PatrolPolicy())
    patrol.state = replace(patrol.state, wands=wands)
    return patrol


def _download(
    patrol: Patrol, minutes: float, scans: Sequence[tuple[str, float]], wand: str = WAND
) -> list[RuleEvent]:
    """At ``minutes``, the wand's log: ``scans`` (checkpoint, minute), then the download."""
    patrol.advance(minutes)
    out: list[RuleEvent] = []
    for checkpoint, minute in sorted(scans, key=lambda s: s[1]):
        out += patrol.feed(scan(checkpoint, minute, received_lag_min=minutes - minute))
    out += patrol.feed(WandDownloaded(wand, at(minutes)))
    return out


def _standing_missed(patrol: Patrol) -> list[tuple[str, str]]:
    """(round start, checkpoint) of the missed alerts no late scan resolved."""
    resolved = {key for e in patrol.events for key in e.resolves}
    return sorted(
        (str(e.data["round_start"]), str(e.data["checkpoint_id"]))
        for e in patrol.of("alert.checkpoint_missed")
        if e.alert_key not in resolved
    )


def _counts(patrol: Patrol) -> list[tuple[object, ...]]:
    """The rounds' completions in time order (a download can complete a round walked whole
    before it judges an earlier one)."""
    names = ("scanned", "on_time", "late", "missed", "out_of_order", "not_due", "excused")
    return sorted(
        (e.time, *(e.data[n] for n in names), tuple(e.data["missed_checkpoints"]))  # type: ignore[arg-type]
        for e in patrol.of("patrol.round_completed")
    )


def test_on_the_clock_a_round_walked_with_a_wand_waits_for_its_download() -> None:
    patrol = _walked_with(WAND)
    patrol.advance(150)  # after the shift: on the clock every window has run out
    assert patrol.events == []
    assert (
        patrol.state.next_deadline
        == at(15) + PatrolPolicy().wand_download_wait_s * (at(1) - at(0)) / 60
    )
    assert not patrol.state.closed


def test_the_download_judges_the_rounds_on_the_scans_it_holds() -> None:
    patrol = _walked_with(WAND)
    # First round whole (C late); second round without C.
    walked = [("A", 4), ("B", 14), ("C", 33), ("A", 62), ("B", 75)]
    out = _download(patrol, 150, walked)
    scanned = [e for e in out if e.type == "patrol.checkpoint_scanned"]
    assert [e.data["counted"] for e in scanned] == [True] * 5
    assert [e.data["late"] for e in scanned] == [False, False, True, False, False]
    [missed] = patrol.of("alert.checkpoint_missed")
    assert (missed.data["checkpoint_id"], missed.time) == ("C", at(90))
    assert missed.data["judged_on"] == "download"
    assert missed.data["backfilled"] is True and missed.data["fired_late"] is False
    assert missed.data["detected_at"] == at(150).isoformat()
    first, second = patrol.of("patrol.round_completed")
    assert (first.time, first.data["scanned"], first.data["late"]) == (at(33), 3, 1)
    assert (second.time, second.data["missed_checkpoints"]) == (at(95), ["C"])
    assert [e.data["judged_on"] for e in (first, second)] == ["download", "download"]
    assert patrol.state.rounds == () and patrol.state.next_deadline is None


def test_a_download_judges_only_what_it_covers() -> None:
    patrol = _walked_with(WAND)
    # At 12 min A's tolerance (to 15) has not run out: nothing is judged yet.
    assert [e.type for e in _download(patrol, 12, [("A", 3)])] == ["patrol.checkpoint_scanned"]
    # At 40 the first round is covered (C's tolerance ended at 35), the second is not.
    _download(patrol, 40, [("C", 24)])
    assert _standing_missed(patrol) == [(at(0).isoformat(), "B")]
    [done] = patrol.of("patrol.round_completed")
    assert done.data["missed_checkpoints"] == ["B"]
    assert [r.started_at for r in patrol.state.rounds] == [at(60)]


def test_with_no_download_the_wait_runs_out_and_the_round_is_judged_on_what_is_in() -> None:
    policy = PatrolPolicy(wand_download_wait_s=3600)
    patrol = _walked_with(WAND, policy=policy)
    patrol.advance(74)
    assert patrol.events == []
    patrol.advance(75)  # A's point (15 min) + the hour
    [missed] = patrol.of("alert.checkpoint_missed")
    assert (missed.data["checkpoint_id"], missed.time) == ("A", at(10))
    assert missed.data["judged_on"] == "wait_ran_out"
    # B's wait (25 + 60) has not run out: a download at 80 still counts B; A's log entry at
    # 16, past its tolerance, resolves nothing. It covers C (35) and the next round's A (75).
    _download(patrol, 80, [("A", 16), ("B", 12)])
    assert _standing_missed(patrol) == [
        (at(0).isoformat(), "A"),
        (at(0).isoformat(), "C"),
        (at(60).isoformat(), "A"),
    ]
    assert [e.data["judged_on"] for e in patrol.of("alert.checkpoint_missed")] == [
        "wait_ran_out",
        "download",
        "download",
    ]


def test_a_scan_downloaded_after_the_wait_within_its_round_resolves_the_missed_alert() -> None:
    patrol = _walked_with(WAND, policy=PatrolPolicy(wand_download_wait_s=3600))
    patrol.advance(76)  # A judged missed at 75 (no download); the round settles at 95
    [missed] = patrol.of("alert.checkpoint_missed")
    out = _download(patrol, 80, [("A", 12)])  # scanned late, within its tolerance
    [scanned] = [e for e in out if e.type == "patrol.checkpoint_scanned"]
    assert scanned.data["late"] is True and scanned.resolves == (missed.alert_key,)
    assert (at(0).isoformat(), "A") not in _standing_missed(patrol)


def test_every_wand_of_the_shift_must_be_downloaded() -> None:
    patrol = _walked_with(WAND, "wand-02")
    _download(patrol, 150, [("A", 4)])
    assert patrol.of("alert.checkpoint_missed") == []
    _download(patrol, 160, [("B", 14), ("C", 24)], wand="wand-02")
    assert _standing_missed(patrol) == [
        (at(60).isoformat(), "A"),
        (at(60).isoformat(), "B"),
        (at(60).isoformat(), "C"),
    ]
    first, _second = patrol.of("patrol.round_completed")
    assert first.data["scanned"] == 3


def test_a_machine_is_told_of_each_download_of_its_wands_it_does_not_know() -> None:
    # Two wands of one shift in the one download: told of both (the stage steps the machine
    # as it is after the first). Known already, not newer, another shift's wand, a closed
    # machine: not told.
    both = _walked_with(WAND, "wand-02")
    downloads = {WAND: at(150), "wand-02": at(150), "wand-99": at(150)}
    told = told_of([both.state], downloads)
    assert [(state is both.state, d) for state, d in told] == [
        (True, WandDownloaded(WAND, at(150))),
        (True, WandDownloaded("wand-02", at(150))),
    ]
    _download(both, 150, [("A", 4)])
    assert [d for _, d in told_of([both.state], downloads)] == [WandDownloaded("wand-02", at(150))]
    assert [d for _, d in told_of([both.state], {WAND: at(160)})] == [WandDownloaded(WAND, at(160))]
    assert told_of([replace(both.state, closed=True)], downloads) == []
    assert told_of([Patrol().state], downloads) == []  # no wands: on the clock


def test_a_relief_keeps_the_round_under_way_until_the_download_and_cuts_it_there() -> None:
    patrol = _walked_with(WAND)
    patrol.advance(22)
    assert patrol.feed(ShiftEnded()) == []
    assert patrol.state.ended_at == at(22) and not patrol.state.closed
    assert [r.started_at for r in patrol.state.rounds] == [at(0)]  # the 01:00 round is dropped
    # B scanned late at 21, before the relief: counts. C's window (to 30) was not due.
    _download(patrol, 100, [("A", 3), ("B", 21)])
    [done] = patrol.of("patrol.round_completed")
    assert done.time == at(22)
    assert (done.data["scanned"], done.data["late"], done.data["not_due"]) == (2, 1, 1)
    assert done.data["ended_early"] is True and done.data["missed"] == 0
    assert patrol.of("alert.checkpoint_missed") == []
    assert patrol.state.closed


def test_a_relief_judges_a_window_that_ended_before_it_and_a_second_relief_changes_nothing() -> (
    None
):
    patrol = _walked_with(WAND)
    patrol.advance(12)
    patrol.feed(ShiftEnded())
    patrol.advance(30)
    patrol.feed(ShiftEnded())  # told again (a restart re-reads the roster)
    assert patrol.state.ended_at == at(12)
    _download(patrol, 100, [])
    assert _standing_missed(patrol) == [(at(0).isoformat(), "A")]
    [done] = patrol.of("patrol.round_completed")
    assert done.time == at(12) and done.data["not_due"] == 2


@pytest.mark.parametrize(("approved", "missed"), [(-30, ["B"]), (11, ["A", "B"])])
def test_a_leave_excuses_a_window_judged_on_the_download_only_if_approved_by_its_end(
    approved: float, missed: list[str]
) -> None:
    # On leave 07:55-08:12, typed in before the download: it spans A's window (to 08:10), but
    # approved at 08:11 it came too late for it, as it would have read live.
    patrol = _walked_with(WAND)
    patrol.state = replace(patrol.state, on_leave=((at(-5), at(12), at(approved)),))
    _download(patrol, 40, [("C", 24)])
    assert [cp for _, cp in _standing_missed(patrol)] == missed


def test_a_shift_without_wands_is_judged_on_the_clock() -> None:
    patrol = Patrol()
    patrol.advance(10)
    [missed] = patrol.of("alert.checkpoint_missed")
    assert missed.data["judged_on"] == "clock"
    assert patrol.feed(WandDownloaded(WAND, at(10))) == []


def test_the_wait_survives_a_restart() -> None:
    patrol = _walked_with(WAND)
    patrol.advance(30)
    patrol.feed(ShiftEnded())
    patrol.feed(WandDownloaded(WAND, at(5)))
    restored = PatrolState.from_json(json.loads(json.dumps(patrol.state.to_json())))
    assert restored == patrol.state
    assert restored.downloads == ((WAND, at(5)),) and restored.ended_at == at(30)


# Half past a minute: never at a window's edge, where a live scan and the tick of the same
# instant race (the tick comes first) and a downloaded one has no tick to race.
_SCANS = st.lists(
    st.tuples(
        st.sampled_from("ABCD"), st.integers(min_value=-5, max_value=125).map(lambda m: m + 0.5)
    ),
    max_size=14,
    unique_by=lambda s: s[1],
)


@given(
    walked=_SCANS,
    ordered=st.booleans(),
    relieved=st.none() | st.integers(min_value=0, max_value=119).map(lambda m: m + 0.25),
)
def test_a_round_walked_with_a_wand_is_judged_as_one_read_live(
    walked: list[tuple[str, float]], ordered: bool, relieved: float | None
) -> None:
    """Whatever the guard scanned, and whenever he was relieved, a download after the shift
    gives the rounds the counts and the standing missed alerts the same scans read live give.
    (Scans after a relief are no longer his: the pipeline gives them to neither.)"""
    his = sorted((s for s in walked if relieved is None or s[1] < relieved), key=lambda s: s[1])
    live = Patrol()
    live.state = replace(live.state, ordered=ordered)
    wand = _walked_with(WAND)
    wand.state = replace(wand.state, ordered=ordered)
    for checkpoint, minute in his:
        live.scan(checkpoint, minute)
    if relieved is not None:
        live.advance(relieved)
        live.feed(ShiftEnded())
        wand.advance(relieved)
        wand.feed(ShiftEnded())
    live.advance(200)
    _download(wand, 200, his)
    assert _counts(wand) == _counts(live)
    assert _standing_missed(wand) == _standing_missed(live)
    assert _scanned(wand) == _scanned(live)
    assert wand.state.rounds == () and wand.state.closed == live.state.closed


def _scanned(patrol: Patrol) -> list[tuple[object, ...]]:
    return [
        (e.data["checkpoint_id"], e.data["counted"], e.data["late"], e.data["out_of_order"])
        for e in patrol.of("patrol.checkpoint_scanned")
    ]


_INPUTS = st.lists(
    st.one_of(
        st.tuples(st.just("scan"), st.sampled_from("ABC"), st.integers(0, 250)),
        st.tuples(st.just("tick"), st.just(""), st.integers(0, 250)),
        st.tuples(st.just("relief"), st.just(""), st.integers(0, 250)),
        st.tuples(st.just("download"), st.sampled_from([WAND, "wand-02"]), st.integers(0, 250)),
    ),
    max_size=12,
)


@given(inputs=_INPUTS, restarts=st.sets(st.integers(0, 11)), wands=st.integers(0, 2))
def test_a_machine_read_back_from_its_saved_state_says_what_it_would_have_said(
    inputs: list[tuple[str, str, int]], restarts: set[int], wands: int
) -> None:
    """Scans (dated up to 30 minutes before they arrive), ticks, reliefs and downloads in
    arrival order, with and without wands: a machine saved and read back (a restart) before
    any of them gives the same events and state as one that ran on."""
    carried = (WAND, "wand-02")[:wands]
    ran, restarted = _walked_with(*carried), _walked_with(*carried)
    for i, (kind, what, minute) in enumerate(sorted(inputs, key=lambda x: x[2])):
        for patrol in (ran, restarted):
            patrol.advance(minute)
            if kind == "scan":
                patrol.feed(scan(what, max(0, minute - 30), received_lag_min=min(30, minute)))
            elif kind == "relief":
                patrol.feed(ShiftEnded())
            elif kind == "download":
                patrol.feed(WandDownloaded(what, at(minute)))
            else:
                patrol.feed(Tick())
        if i in restarts:
            restarted.state = PatrolState.from_json(
                json.loads(json.dumps(restarted.state.to_json()))
            )
    for patrol in (ran, restarted):
        patrol.advance(300)
    assert restarted.events == ran.events
    assert restarted.state == ran.state


@given(walked=_SCANS, first=st.integers(min_value=1, max_value=199))
def test_a_wand_downloaded_twice_gives_what_one_download_at_the_end_gives(
    walked: list[tuple[str, float]], first: int
) -> None:
    """Downloaded at minute ``first`` and again after the shift (each time what it read since),
    or once after the shift: the same rounds, scans and standing alerts."""
    once, twice = _walked_with(WAND), _walked_with(WAND)
    _download(once, 200, walked)
    _download(twice, first, [s for s in walked if s[1] < first])
    _download(twice, 200, [s for s in walked if s[1] >= first])
    assert _counts(twice) == _counts(once)
    assert _standing_missed(twice) == _standing_missed(once)
    assert _scanned(twice) == _scanned(once)
