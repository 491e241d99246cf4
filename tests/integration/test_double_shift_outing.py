"""A guard on a double shift (连班: the night 20:00-08:00, then the day 08:00-20:00 at the same
gate) who steps out a few minutes before 08:00 and is back after it has not left early (早退)
and was not absent at the day shift's start: his duty goes on without a break. The night
shift hands the outing over at its end and the day shift judges it from when it began
(``gateway.rules.handover``): its return, and its 15 minutes off post. Before, the night shift
raised ``alert.left_early`` at 08:00 for a five-minute outing, reported or not, and the day
shift ``alert.absent_at_shift_start`` for one back after its 10-minute grace. Through the
pipeline as ``guard-gateway run`` drives it (``Processor``), on SQLite and PostgreSQL.

A day shift given to him by a site load while the night runs (his relief called in sick) makes
it a double shift from the load on."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import FileReport
from gateway.pipeline.processor import Processor
from gateway.site.loader import load_site_file
from tests.e2e.helpers import (
    alert_rows,
    core_events,
    double_shift_site,
    load_sample_site,
    outbox_rows,
    post_points,
)
from tests.integration.test_pipeline_hard_cases import at, walk

NIGHT = f"g-001/jt-gate-north/{at(-12 * 60):%Y%m%dT%H%M%SZ}"
DAY = f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"


def _night_only(tmp_path: Path) -> Path:
    """The sample site with g-001 on the night shift at the north gate, not the day."""
    doc: dict[str, Any] = yaml.safe_load(double_shift_site(tmp_path).read_text("utf-8"))
    shifts = doc["sites"][0]["shifts"]
    doc["sites"][0]["shifts"] = [
        s for s in shifts if not (s["guard"] == "g-001" and s["start"] == "08:00")
    ]
    path = tmp_path / "night-only.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _out_across_the_change(
    engine: Engine,
    tmp_path: Path,
    *,
    reported: bool,
    back: float,
    day_given_at: float | None = None,
    restart_at: float | None = None,
    report_typed_at: float | None = None,
) -> None:
    """On post from 06:25, out from 07:56 (a verbal report at 07:55:30 when ``reported``), back
    at minute ``back`` of the day shift, on post to 09:00. ``day_given_at``: rostered on the
    night only, and given the day shift by a site load at that minute. ``restart_at``: the
    gateway down for the three minutes before that minute (its fixes lost), then a new
    process. ``report_typed_at``: the report made at 07:55:30 by phone is typed in then, in the
    day shift, after he is back."""
    first = double_shift_site(tmp_path) if day_given_at is None else _night_only(tmp_path)
    load_sample_site(engine, at(-120), first)
    points = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-100))
    processor = Processor(engine, clock)
    if day_given_at is not None:
        walk(processor, clock, points.inside, -95, day_given_at)
        load_site_file(double_shift_site(tmp_path), engine, at(day_given_at))
        read = processor.read_roster()  # as the roster reader of ``run`` does
        assert read is not None and processor.adopt_roster(read)
    walk(processor, clock, points.inside, -95 if day_given_at is None else day_given_at, -4.5)
    if reported:
        clock.set(at(-4.5))
        processor.run_command(
            FileReport(guard_id="g-001", reported_at=at(-4.5), received_at=clock.now())
        )
    walk(processor, clock, points.inside, -4.5, -4)
    if restart_at is not None:
        walk(processor, clock, points.outside, -4, restart_at - 3)
        clock.set(at(restart_at))
        processor = Processor(engine, clock)
        walk(processor, clock, points.outside, restart_at, back)
    else:
        walk(processor, clock, points.outside, -4, back)
    if report_typed_at is None:
        walk(processor, clock, points.inside, back, 60)
        return
    walk(processor, clock, points.inside, back, report_typed_at)
    clock.set(at(report_typed_at))
    processor.run_command(
        FileReport(guard_id="g-001", reported_at=at(-4.5), received_at=clock.now())
    )
    walk(processor, clock, points.inside, report_typed_at, 60)


def _core(engine: Engine) -> list[tuple[str, datetime, str]]:
    """g-001's presence events and alerts for the core from 07:00 (his night before it is not
    this test's), as ``(type, event time, shift id)``."""
    out = []
    for row in outbox_rows(engine):
        data = json.loads(row.body)["data"]
        if (
            row.destination == "core"
            and row.type.startswith(("presence.", "alert."))
            and data.get("guard_id") == "g-001"
            and row.event_time >= at(-60)
        ):
            out.append((row.type, row.event_time, data["shift_id"]))
    return out


def test_a_reported_outing_across_the_change_is_not_leaving_early(
    engine: Engine, tmp_path: Path
) -> None:
    _out_across_the_change(engine, tmp_path, reported=True, back=5)
    assert _core(engine) == [
        ("presence.departed", at(-4), NIGHT),
        ("presence.arrived", at(0), DAY),
        ("presence.returned", at(5), DAY),
    ]
    # On duty from 08:00, continuing the night; the outing is the night's, back at 08:05.
    [arrived] = core_events(engine, "presence.arrived", "g-001")[-1:]
    [departed] = core_events(engine, "presence.departed", "g-001")[-1:]
    [returned] = core_events(engine, "presence.returned", "g-001")
    assert arrived["continued_from"] == NIGHT
    assert arrived["departure_id"] == departed["departure_id"] == returned["departure_id"]
    assert returned["report_id"] == departed["report_id"] is not None


def test_an_unreported_one_is_raised_as_unreported_only(engine: Engine, tmp_path: Path) -> None:
    _out_across_the_change(engine, tmp_path, reported=False, back=5)
    assert [(kind, shift) for kind, _when, shift in _core(engine)] == [
        ("presence.departed", NIGHT),
        ("alert.unreported_departure", NIGHT),
        ("presence.arrived", DAY),
        ("presence.returned", DAY),
    ]
    # His return ends the alert the night raised.
    [(_, _, resolution)] = alert_rows(engine, "alert.unreported_departure", "g-001")
    assert resolution is not None


def test_back_after_fifteen_minutes_is_the_outings_overtime_not_an_absence(
    engine: Engine, tmp_path: Path
) -> None:
    # Out from 07:56 on a verbal report, back at 08:20: 15 minutes off post ran out at 08:11,
    # in the day shift, which raises it; he was on duty at its start, not absent.
    _out_across_the_change(engine, tmp_path, reported=True, back=20)
    assert _core(engine) == [
        ("presence.departed", at(-4), NIGHT),
        ("presence.arrived", at(0), DAY),
        ("alert.overtime_departure", at(11), DAY),
        ("presence.returned", at(20), DAY),
    ]


def test_a_day_shift_given_while_the_night_runs_makes_it_one_duty(
    engine: Engine, tmp_path: Path
) -> None:
    # Rostered on the night only; at 07:00 the leader gives him the day too.
    _out_across_the_change(engine, tmp_path, reported=True, back=5, day_given_at=-60)
    assert _core(engine) == [
        ("presence.departed", at(-4), NIGHT),
        ("presence.arrived", at(0), DAY),
        ("presence.returned", at(5), DAY),
    ]


@pytest.mark.parametrize("restart_at", [2, 4])
def test_a_restart_across_the_change_hands_the_outing_over_once(
    engine: Engine, tmp_path: Path, restart_at: float
) -> None:
    # Down 07:59-08:02: the new process ends the night and starts the day. Down 08:01-08:04:
    # the day had taken the outing over; the new process reads it back.
    _out_across_the_change(engine, tmp_path, reported=True, back=5, restart_at=restart_at)
    assert _core(engine) == [
        ("presence.departed", at(-4), NIGHT),
        ("presence.arrived", at(0), DAY),
        ("presence.returned", at(5), DAY),
    ]


def test_a_terminal_quiet_across_the_change_is_one_silence_and_no_absence(
    engine: Engine, tmp_path: Path
) -> None:
    # On post, his terminal quiet from 07:45 (its battery) to 08:30: the night raises the
    # silence; the day has him on duty from 08:00, raises neither an absence nor a second
    # silence, and the terminal heard again at 08:30 resolves the night's alert.
    load_sample_site(engine, at(-120), double_shift_site(tmp_path))
    points = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-100))
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, -95, -15)
    minute = -15.0
    while minute < 30:  # the runtime ticks on while nothing comes
        clock.set(at(minute))
        processor.tick()
        minute += 0.5
    walk(processor, clock, points.inside, 30, 60)
    assert [(kind, shift) for kind, _when, shift in _core(engine)] == [
        ("alert.device_silent", NIGHT),
        ("presence.arrived", DAY),
        ("presence.device_resumed", DAY),
    ]
    # (The night's first silence, before he came at 06:25, is not this test's.)
    opened, resolved, _ = alert_rows(engine, "alert.device_silent", "g-001")[-1]
    assert opened == at(-5.5) + timedelta(seconds=1)  # heard last at 07:44:31, 10 min
    assert resolved == at(30) + timedelta(seconds=1)


def test_a_report_typed_in_after_the_change_withdraws_the_nights_unreported_alert(
    engine: Engine, tmp_path: Path
) -> None:
    # He phoned at 07:55:30 and went out at 07:56; the leader types the report at 08:20,
    # after the outing was handed to the day shift and ended there.
    _out_across_the_change(engine, tmp_path, reported=False, back=5, report_typed_at=20)
    assert [(kind, shift) for kind, _when, shift in _core(engine)] == [
        ("presence.departed", NIGHT),
        ("alert.unreported_departure", NIGHT),
        ("presence.arrived", DAY),
        ("presence.returned", DAY),
        ("alert.withdrawn", DAY),
    ]
    [withdrawn] = core_events(engine, "alert.withdrawn", "g-001")
    assert withdrawn["withdrawn_type"] == "alert.unreported_departure"
    assert withdrawn["reason"] == "report_on_record"
