"""A verbal report a guard makes shortly before his shift starts covers a departure early in the
shift, through the pipeline as ``guard-gateway run`` drives it: the report is stored when it is
made, and the shift's machine, started at 08:00, is told of it (``PresenceMachines.start``).
Before, a report made while no shift of his was under way reached no machine, and his departure
was raised as unreported. SQLite and PostgreSQL.

g-001 (the sample site, 08:00-20:00 at the north gate) is on post from 07:25, reports at 07:58
(typed in at 07:58:30) that he steps out, is away from 08:05 to 08:12 and back on post."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import FileReport
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import PostPoints, double_shift_site, load_sample_site, post_points
from tests.integration.test_pipeline_hard_cases import at, events, walk

DAY_SHIFT = f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"


def _morning(engine: Engine, made: float, typed: float, *, restart: bool = False) -> None:
    """The morning of the module doc, with the report made at minute ``made`` and typed in at
    ``typed``; ``restart``: the gateway restarts at 07:59, before the shift starts."""
    load_sample_site(engine)
    points = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-40))
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, -35, typed)
    clock.set(at(typed))
    processor.run_command(FileReport(guard_id="g-001", reported_at=at(made), received_at=at(typed)))
    walk(processor, clock, points.inside, typed, -1)
    if restart:
        processor = Processor(engine, clock)
    walk(processor, clock, points.inside, -1, 5)
    walk(processor, clock, points.outside, 5, 12)
    walk(processor, clock, points.inside, 12, 30)


def _departed(engine: Engine) -> list[tuple[str, Any]]:
    return [
        (e["data"]["started_at"], e["data"]["report_id"])
        for e in events(engine, "presence.departed")
    ]


def _iso(when: datetime) -> str:
    return when.isoformat()


def test_a_report_made_before_the_shift_covers_a_departure_early_in_it(engine: Engine) -> None:
    _morning(engine, -2, -1.5)
    [(started, report_id)] = _departed(engine)
    assert started == _iso(at(5)) and report_id is not None
    assert events(engine, "alert.unreported_departure") == []
    assert [e["data"]["report_id"] for e in events(engine, "presence.returned")] == [report_id]


def test_it_covers_it_when_the_gateway_restarts_before_the_shift(engine: Engine) -> None:
    _morning(engine, -2, -1.5, restart=True)
    [(_, report_id)] = _departed(engine)
    assert report_id is not None
    assert events(engine, "alert.unreported_departure") == []


def test_a_report_made_too_long_before_the_departure_covers_nothing(engine: Engine) -> None:
    # Made at 07:30: a report covers a departure starting within 30 minutes, so not 08:05.
    _morning(engine, -30, -29)
    [(_, report_id)] = _departed(engine)
    assert report_id is None
    [unreported] = events(engine, "alert.unreported_departure")
    assert unreported["data"]["shift_id"] == DAY_SHIFT


def _nights_too(
    engine: Engine, tmp_path: Path, *, night_end: str = "08:00", report: float = -5
) -> tuple[Processor, ManualClock, PostPoints]:
    """g-001 also working the night before at the north gate (20:00-``night_end``), on post
    from 07:25, reporting at minute ``report``; the gateway running from 07:20."""
    load_sample_site(engine, at(-60), double_shift_site(tmp_path, night_end=night_end))
    points = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-40))
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, -35, report)
    clock.set(at(report))
    processor.run_command(
        FileReport(guard_id="g-001", reported_at=at(report), received_at=at(report))
    )
    return processor, clock, points


def test_a_report_the_night_shift_used_is_not_told_again_to_the_day_shift(
    engine: Engine, tmp_path: Path
) -> None:
    # He reports at 07:55, steps out from 07:56 to 07:59 (covered: the night shift used the
    # report) and leaves again at 08:05, in the day shift. A report covers one departure: the
    # second is unreported.
    processor, clock, points = _nights_too(engine, tmp_path)
    walk(processor, clock, points.outside, -4, -1)
    walk(processor, clock, points.inside, -1, 5)
    walk(processor, clock, points.outside, 5, 12)
    walk(processor, clock, points.inside, 12, 30)
    departed = _departed(engine)
    assert [started for started, _ in departed] == [_iso(at(-4)), _iso(at(5))]
    assert departed[0][1] is not None and departed[1][1] is None
    [unreported] = events(engine, "alert.unreported_departure")
    assert unreported["data"]["shift_id"] == DAY_SHIFT


def test_a_report_the_night_shift_left_unused_covers_a_departure_of_the_day_shift(
    engine: Engine, tmp_path: Path
) -> None:
    # He reports at 07:55 that he steps out at 08:05, the night shift ends at 08:00 with it
    # unused, and he is away from 08:05 to 08:12: covered.
    processor, clock, points = _nights_too(engine, tmp_path)
    walk(processor, clock, points.inside, -5, 5)
    walk(processor, clock, points.outside, 5, 12)
    walk(processor, clock, points.inside, 12, 30)
    [(started, report_id)] = _departed(engine)
    assert started == _iso(at(5)) and report_id is not None
    assert events(engine, "alert.unreported_departure") == []


def test_so_does_one_left_by_a_night_shift_ended_and_put_away_before_the_day_shift(
    engine: Engine, tmp_path: Path
) -> None:
    # The night shift ends at 07:45: its machine, owing nothing, is closed and leaves memory;
    # the day shift reads it from the store at 08:00. Reported at 07:40, away 08:05-08:12.
    processor, clock, points = _nights_too(engine, tmp_path, night_end="07:45", report=-20)
    walk(processor, clock, points.inside, -20, 5)
    assert processor.state(f"g-001/jt-gate-north/{at(-12 * 60):%Y%m%dT%H%M%SZ}") is None
    walk(processor, clock, points.outside, 5, 12)
    walk(processor, clock, points.inside, 12, 30)
    [(started, report_id)] = _departed(engine)
    assert started == _iso(at(5)) and report_id is not None
    assert events(engine, "alert.unreported_departure") == []
