"""A terminal quiet at the shift's end uploads what it stored after the end; through the
pipeline as ``guard-gateway run`` drives it (``Processor``, ticking every minute), on SQLite and
PostgreSQL: the end waits ``end_upload_wait_s`` (10 min) for it, and the positions dated inside
the shift are judged.

Before, ``alert.left_early`` fell at 20:00 on the clock and the upload after it was off duty:
g-001, back on post at 19:43 by the positions his terminal sent at 20:05, kept it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import (
    SAMPLE_SITE,
    PostPoints,
    alert_rows,
    fix_at,
    load_sample_site,
    post_points,
)
from tests.integration.test_blind_area_upload import _his, _upload
from tests.integration.test_pipeline_hard_cases import at, walk

END_MIN = 720
"""g-001's shift on the sample site: 08:00-20:00."""


def _out_at_half_past_seven_then_quiet(
    engine: Engine, site: Path = SAMPLE_SITE
) -> tuple[Processor, ManualClock, PostPoints]:
    """g-001 on post from 08:00, out at 19:30 live to 19:40, then his terminal quiet; the
    gateway ticking each minute to 20:05. ``site``: the site file (default: the sample)."""
    load_sample_site(engine, path=site)
    points = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-5))
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, 0, 690)
    walk(processor, clock, points.outside, 690, 700)
    _tick_each_minute(processor, clock, 700, END_MIN + 5)
    return processor, clock, points


def _tick_each_minute(processor: Processor, clock: ManualClock, first: int, last: int) -> None:
    for minute in range(first, last + 1):
        clock.set(at(minute))
        processor.tick()


def _upload_back_at_nineteen_forty_three(
    processor: Processor, clock: ManualClock, points: PostPoints
) -> None:
    """What the quiet terminal stored, sent at 20:05: out to 19:43, on post to the end."""
    _upload(processor, clock, points.outside, 700, 703, END_MIN + 5.5)
    _upload(processor, clock, points.inside, 703, END_MIN, END_MIN + 5.51)


def test_back_before_the_end_on_positions_uploaded_after_it_is_not_leaving_early(
    engine: Engine,
) -> None:
    processor, clock, points = _out_at_half_past_seven_then_quiet(engine)
    _upload_back_at_nineteen_forty_three(processor, clock, points)
    _tick_each_minute(processor, clock, END_MIN + 6, END_MIN + 60)
    assert alert_rows(engine, "alert.left_early", "g-001") == []
    [returned] = _his(engine, "presence.returned")
    assert returned["data"]["returned_at"] == at(703).isoformat()
    # The overtime the clock raised at 19:45 while the terminal was quiet is withdrawn too.
    [withdrawn] = _his(engine, "alert.withdrawn")
    assert withdrawn["data"]["withdrawn_type"] == "alert.overtime_departure"
    assert [r[2] for r in alert_rows(engine, "alert.overtime_departure", "g-001")] == ["withdrawn"]


def test_a_site_whose_end_does_not_wait_raises_leaving_early_on_the_clock(
    engine: Engine, tmp_path: Path
) -> None:
    # end_upload_wait_s: 0 in the site file: the end falls at 20:00, the upload is history,
    # but the return it shows at 19:43 withdraws the alerts it shows wrong (left early, and
    # the overtime that fell at 19:45); no return is recorded from it.
    doc = yaml.safe_load(SAMPLE_SITE.read_text("utf-8"))
    doc["sites"][0].setdefault("policy", {})["end_upload_wait_s"] = 0
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    processor, clock, points = _out_at_half_past_seven_then_quiet(engine, site)
    [left] = _his(engine, "alert.left_early")
    assert datetime.fromisoformat(left["data"]["detected_at"]) == at(END_MIN)
    _upload_back_at_nineteen_forty_three(processor, clock, points)
    _tick_each_minute(processor, clock, END_MIN + 6, END_MIN + 60)
    assert [r[2] for r in alert_rows(engine, "alert.left_early", "g-001")] == ["withdrawn"]
    assert [r[2] for r in alert_rows(engine, "alert.overtime_departure", "g-001")] == ["withdrawn"]
    withdrawals = [w["data"] for w in _his(engine, "alert.withdrawn")]
    assert [(w["withdrawn_type"], w["returned_at"]) for w in withdrawals] == [
        ("alert.overtime_departure", at(703).isoformat()),
        ("alert.left_early", at(703).isoformat()),
    ]
    assert _his(engine, "presence.returned") == []


def test_nothing_uploaded_leaving_early_falls_when_the_wait_is_over(engine: Engine) -> None:
    processor, clock, _ = _out_at_half_past_seven_then_quiet(engine)
    _tick_each_minute(processor, clock, END_MIN + 6, END_MIN + 9)
    assert alert_rows(engine, "alert.left_early", "g-001") == []
    _tick_each_minute(processor, clock, END_MIN + 10, END_MIN + 60)
    [(opened, resolved, _)] = alert_rows(engine, "alert.left_early", "g-001")
    assert (opened, resolved) == (at(END_MIN), None)
    [left] = _his(engine, "alert.left_early")
    assert datetime.fromisoformat(left["data"]["detected_at"]) == at(END_MIN + 10)
    assert (left["data"]["late"], left["data"]["backfilled"]) == (False, False)


def test_an_upload_in_two_messages_just_after_the_end_is_judged_whole(engine: Engine) -> None:
    # On post to 19:56:30, then quiet; out from 19:58:10 by what the terminal stored, sent at
    # 20:00:01 (19:58:10 and 19:59:05) and 20:00:02 (19:59:55), the runtime ticking between
    # the two. The fix of 19:59:05 is less than a minute old when it comes; taken for live,
    # it let that tick fire the end with the departure unconfirmed (55 s of outside fixes),
    # and the last one, which confirms it, came to a closed shift: nothing was raised.
    load_sample_site(engine)
    points = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-5))
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, 0, 717)
    _tick_each_minute(processor, clock, 717, END_MIN)
    for sent_s, taken_s in ((1.0, (-110.0, -55.0)), (2.0, (-5.0,))):
        sent = at(END_MIN + sent_s / 60)
        clock.set(sent)
        processor.process_fixes(
            [
                fix_at(
                    "gps-001",
                    at(END_MIN + t / 60),
                    points.outside,
                    received_after_s=sent_s - t,
                )
                for t in taken_s
            ]
        )
        clock.set(sent + (at(END_MIN + 0.5 / 60) - at(END_MIN)))
        processor.tick()
    _tick_each_minute(processor, clock, END_MIN + 1, END_MIN + 60)
    [departed] = _his(engine, "presence.departed")
    assert departed["data"]["started_at"] == at(END_MIN - 110 / 60).isoformat()
    assert len(alert_rows(engine, "alert.left_early", "g-001")) == 1
    assert len(alert_rows(engine, "alert.unreported_departure", "g-001")) == 1
