"""A terminal out of network stores its positions and uploads them when it is back; through the
pipeline as ``guard-gateway run`` drives it (``Processor``, ticking between messages), on
SQLite and PostgreSQL, the outing they show is judged as if they had come live.

Before: an extension (续假) approved while the terminal was quiet, whose upload showed the guard
back under the leave it extends, left no cancellation owed at all, so a leave never cancelled
raised no ``alert.leave_not_cancelled``; an upload split over two messages with a tick between
them raised ``alert.overtime_departure`` for a five-minute outing (the tick decided the 15
minutes with only the outside half of the upload known), and an overtime raised on the clock
while the terminal was quiet stood after its upload showed the guard back before it fell.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import ApproveLeave
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import (
    PostPoints,
    alert_rows,
    fix_at,
    load_sample_site,
    post_points,
    roster_site,
)
from tests.integration.test_pipeline_hard_cases import at, events, walk


def _upload(
    processor: Processor,
    clock: ManualClock,
    where: tuple[float, float],
    start_min: float,
    end_min: float,
    sent_min: float,
) -> None:
    """The fixes g-001's terminal took every 30 s from ``start_min`` to ``end_min``
    (exclusive), sent at ``sent_min`` in one message (one batch)."""
    sent = at(sent_min)
    fixes = []
    t = at(start_min)
    while t < at(end_min):
        fixes.append(fix_at("gps-001", t, where, received_after_s=(sent - t).total_seconds()))
        t += timedelta(seconds=30)
    clock.set(sent)
    processor.process_fixes(fixes)


def _quiet_from_nine(
    engine: Engine, quiet_until: float, *, out_from: float | None = None
) -> tuple[Processor, ManualClock, PostPoints]:
    """g-001 (the sample site, 08:00-20:00 at the north gate) on post from 08:00 and, from
    minute ``out_from`` to 63, outside, live; then his terminal quiet, the gateway ticking each
    minute, to minute ``quiet_until``."""
    load_sample_site(engine)
    points = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-5))
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, 0, 60 if out_from is None else out_from)
    if out_from is not None:
        walk(processor, clock, points.outside, out_from, 63)
    for minute in range(60 if out_from is None else 63, int(quiet_until)):
        clock.set(at(minute))
        processor.tick()
    return processor, clock, points


def _his(engine: Engine, type_: str) -> list[dict[str, Any]]:
    return [e for e in events(engine, type_) if e["data"]["guard_id"] == "g-001"]


def _assert_out_from_five_past_to_ten_past(engine: Engine) -> None:
    """g-001's outing of 09:05-09:10, unreported and under 15 minutes, judged as it was."""
    [departed] = _his(engine, "presence.departed")
    [returned] = _his(engine, "presence.returned")
    assert (departed["data"]["started_at"], returned["data"]["returned_at"]) == (
        at(65).isoformat(),
        at(70).isoformat(),
    )
    assert len(_his(engine, "alert.unreported_departure")) == 1
    assert _his(engine, "alert.overtime_departure") == []


def test_an_upload_split_by_a_tick_is_judged_whole(engine: Engine) -> None:
    # On post from 08:00, quiet from 09:00; the stored positions, sent at 09:25 in two
    # messages with ticks between: out 09:05-09:10. Five minutes: no overtime (09:20).
    processor, clock, points = _quiet_from_nine(engine, 85)
    _upload(processor, clock, points.inside, 60, 65, 85)
    _upload(processor, clock, points.outside, 65, 70, 85.01)
    for second in (1, 2, 5, 20):
        clock.set(at(85) + timedelta(seconds=second))
        processor.tick()
    _upload(processor, clock, points.inside, 70, 85, 85.5)
    walk(processor, clock, points.inside, 85.5, 120)
    _assert_out_from_five_past_to_ten_past(engine)


def test_an_overtime_raised_while_quiet_is_withdrawn_when_the_upload_shows_him_back(
    engine: Engine,
) -> None:
    # Out at 09:00 live, quiet from 09:03 out there: the gateway raises the overtime at 09:15
    # on its clock. The upload at 09:30 shows him back at 09:08: withdrawn, not resolved.
    processor, clock, points = _quiet_from_nine(engine, 90, out_from=60)
    _upload(processor, clock, points.outside, 63.5, 68, 90)
    _upload(processor, clock, points.inside, 68, 90, 90.01)
    walk(processor, clock, points.inside, 90.5, 120)
    [overtime] = _his(engine, "alert.overtime_departure")
    [withdrawn] = _his(engine, "alert.withdrawn")
    assert withdrawn["data"]["withdrawn_type"] == "alert.overtime_departure"
    assert withdrawn["data"]["reason"] == "returned_before"
    assert (
        withdrawn["data"]["fell_at"]
        == at(75).isoformat()
        == overtime["time"].replace("Z", "+00:00")
    )
    assert alert_rows(engine, "alert.overtime_departure", "g-001") == [
        (at(75), at(90) + timedelta(seconds=0.6), "withdrawn")
    ]
    assert len(_his(engine, "presence.returned")) == 1


def test_the_stored_positions_sent_after_the_live_one_are_judged(engine: Engine) -> None:
    # Quiet from 09:00; at 09:25 the terminal sends where it is now (one message), then what
    # it stored (another): out 09:05-09:10. Before, the stored fixes were older than the live
    # one and never judged: no departure at all.
    processor, clock, points = _quiet_from_nine(engine, 85)
    _upload(processor, clock, points.inside, 85, 85.5, 85)
    clock.set(at(85) + timedelta(seconds=1))
    processor.tick()
    _upload(processor, clock, points.inside, 60, 65, 85.02)
    _upload(processor, clock, points.outside, 65, 70, 85.02)
    _upload(processor, clock, points.inside, 70, 85, 85.02)
    walk(processor, clock, points.inside, 85.5, 120)
    _assert_out_from_five_past_to_ten_past(engine)
    [resumed] = _his(engine, "presence.device_resumed")
    assert resumed["time"] == "2026-03-02T01:25:00Z"


def test_a_live_fix_and_its_stored_ones_kept_by_the_broker_are_judged_in_order(
    engine: Engine,
) -> None:
    # As above, but the gateway is down from 09:20 to 09:40, so the live fix of 09:25 and the
    # stored ones behind it reach it together from the broker's session, the live one first and
    # old by then. Before, it was not held (only fresh fixes were): he was seen on post at
    # 09:25, the stored fixes were older, kept as history, and the outing never judged.
    _, clock, points = _quiet_from_nine(engine, 80)
    clock.set(at(100))
    after = Processor(engine, clock)
    after.tick()
    _upload(after, clock, points.inside, 85, 85.5, 100)
    _upload(after, clock, points.inside, 60, 65, 100.01)
    _upload(after, clock, points.outside, 65, 70, 100.01)
    _upload(after, clock, points.inside, 70, 85, 100.01)
    walk(after, clock, points.inside, 100.5, 120)
    _assert_out_from_five_past_to_ten_past(engine)
    [resumed] = _his(engine, "presence.device_resumed")
    assert resumed["data"]["backfilled"] is False


def test_a_badge_heard_in_the_booth_waits_for_the_phones_upload(
    engine: Engine, tmp_path: Path
) -> None:
    # g-001 wears his phone and has his badge on the booth's table, heard every 20 s. Out at
    # 09:05 and back at 09:10 in a dead zone the phone left at 09:00; back in network at 09:25
    # it sends where it is, then what it stored, while the badge goes on. Before, the badge's
    # fix between the two applied the phone's live fix first: no return seen, the overtime of
    # 09:20 stood.
    site = roster_site(
        tmp_path, [("g-001", "jt-gate-north", "gps-001"), ("g-001", "jt-gate-north", "badge-001")]
    )
    load_sample_site(engine, path=site)
    points = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-5))
    processor = Processor(engine, clock)
    for second in range(0, 85 * 60, 10):  # the phone every 30 s to 09:00, the badge every 20 s
        clock.set(at(second / 60) + timedelta(seconds=1))
        devices = ["gps-001"] if second % 30 == 0 and second < 60 * 60 else []
        devices += ["badge-001"] if second % 20 == 0 else []
        processor.process_fixes([fix_at(d, at(second / 60), points.inside) for d in devices])
    _upload(processor, clock, points.inside, 85, 85.5, 85)
    clock.set(at(85) + timedelta(seconds=0.5))
    processor.process_fixes([fix_at("badge-001", clock.now(), points.inside)])
    processor.tick()
    _upload(processor, clock, points.inside, 60, 65, 85.02)
    _upload(processor, clock, points.outside, 65, 70, 85.02)
    _upload(processor, clock, points.inside, 70, 85, 85.03)
    walk(processor, clock, points.inside, 85.5, 120)
    _assert_out_from_five_past_to_ten_past(engine)
    assert [e["data"]["left_device_id"] for e in _his(engine, "alert.device_left_behind")] == [
        "badge-001"
    ]


def test_back_under_a_leave_its_extension_approved_while_quiet_owes_the_leaves_cancellation(
    engine: Engine,
) -> None:
    # Out at 09:00 on a leave for 09:00-09:10 his leader approved by phone at 08:55, typed in
    # at 09:04; quiet from 09:03. At 09:05 the leader approves an extension to 09:40. The
    # upload at 09:30 shows him back at 09:06, under the first leave: never cancelled, its
    # cancellation falls due at 10:06, as it would have had the positions come live.
    processor, clock, points = _quiet_from_nine(engine, 64, out_from=60)
    first = processor.run_command(ApproveLeave("g-001", at(60), at(70), "leader", at(55)))
    clock.set(at(65))
    processor.run_command(ApproveLeave("g-001", at(70), at(100), "leader", at(65)))
    for minute in range(65, 90):
        clock.set(at(minute))
        processor.tick()
    _upload(processor, clock, points.outside, 63.5, 66, 90)
    _upload(processor, clock, points.inside, 66, 90, 90.01)
    walk(processor, clock, points.inside, 90.5, 130)
    [returned] = _his(engine, "presence.returned")
    assert returned["data"]["leave_id"] == first["id"]
    [alert] = _his(engine, "alert.leave_not_cancelled")
    assert alert["data"]["leave_id"] == first["id"]
    assert alert["time"] == "2026-03-02T02:06:00Z"
