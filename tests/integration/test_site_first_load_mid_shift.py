"""A site loaded for the first time while its shifts are under way (the gateway installed at
10:30 of the 08:00-20:00 day shift) holds nobody to the hours before it knew of them
(``ShiftRow.known_from``), through the pipeline as ``guard-gateway run`` drives it. SQLite
and PostgreSQL.

The shift keeps its roster start (the day's record, and the fixes since 08:00 still count);
the arrival grace and the silence limit run from the load."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import ShiftRow
from gateway.ledger.service import day_ledger
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome
from gateway.site import load_site_file
from tests.e2e.helpers import fix_at, post_points
from tests.integration.test_site_load_mid_shift import (
    GUARD,
    SITE,
    Gateway,
    at,
    core_bodies,
    core_events,
    points,
    site_file,
)
from tests.ledger.patrol_scenario import GATE, PATROLLER, patrol_site

SHIFT = f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"
LOAD_MIN = 150  # 10:30


def installed_at_half_past_ten(engine: Engine, tmp_path: Path) -> Gateway:
    """The site's first load at 10:30, then the gateway's pipeline started on it."""
    load_site_file(site_file(tmp_path, "gate", post="jt-gate-north"), engine, at(LOAD_MIN))
    return Gateway(engine, at(LOAD_MIN))


def tick_until(gateway: Gateway, minute: float) -> None:
    """The clock alone (no fix), ticking every 30 s up to ``minute``."""
    step = 0.5
    now = (gateway.clock.now() - at(0)).total_seconds() / 60
    while now < minute:
        now = min(now + step, minute)
        gateway.clock.set(at(now))
        gateway.processor.tick()


def absent_payload(engine: Engine) -> dict[str, object]:
    with Session(engine) as session:
        body = session.scalars(
            select(OutboxRow.body).where(
                OutboxRow.destination == "core", OutboxRow.type == "alert.absent_at_shift_start"
            )
        ).one()
    data: dict[str, object] = json.loads(body)["data"]
    return data


def test_the_shift_keeps_its_roster_start_and_is_known_from_the_load(
    engine: Engine, tmp_path: Path
) -> None:
    installed_at_half_past_ten(engine, tmp_path)
    with Session(engine) as session:
        row = session.get(ShiftRow, SHIFT)
        assert row is not None
        assert (row.starts_at, row.ends_at, row.known_from) == (at(0), at(720), at(LOAD_MIN))
        # The night shift that ended at 08:00 and tomorrow's: written before their start.
        others = session.scalars(select(ShiftRow.known_from).where(ShiftRow.id != SHIFT)).all()
    assert others and set(others) == {None}


def test_a_guard_on_post_when_the_site_is_first_loaded_raises_no_alert(
    engine: Engine, tmp_path: Path
) -> None:
    gateway = installed_at_half_past_ten(engine, tmp_path)
    gate = points(engine, "jt-gate-north", at(LOAD_MIN))
    gateway.run(LOAD_MIN, 240, gate.inside)
    # Before known_from, the first tick raised absent and silent, both dated 08:10.
    assert core_events(engine) == [("presence.arrived", at(LOAD_MIN), SHIFT)]
    # The day's ledger keeps the roster's 12 h and says when the gateway learned of them.
    ledger = day_ledger(engine, SITE, at(0).date(), at(240))
    [guard] = [g for g in ledger["guards"] if g["guard_id"] == GUARD[0]]
    [shift] = guard["shifts"]
    assert (shift["starts_at"], shift["known_from"], shift["arrived_at"]) == (
        at(0).isoformat(),
        at(LOAD_MIN).isoformat(),
        at(LOAD_MIN).isoformat(),
    )
    assert (guard["scheduled_s"], guard["on_post_s"]) == (12 * 3600, 90 * 60)


def test_fixes_from_before_the_load_still_count_as_his_arrival(
    engine: Engine, tmp_path: Path
) -> None:
    gateway = installed_at_half_past_ten(engine, tmp_path)
    gate = points(engine, "jt-gate-north", at(LOAD_MIN))
    # His terminal's blind-area upload after the load: fixes of 08:02 and 09:00, on post.
    gateway.clock.set(at(LOAD_MIN + 1))
    late_s = (at(LOAD_MIN + 1) - at(2)).total_seconds()
    gateway.processor.process_fixes(
        [
            fix_at(GUARD[2], at(2), gate.inside, received_after_s=late_s),
            fix_at(GUARD[2], at(60), gate.inside, received_after_s=late_s - 58 * 60),
        ]
    )
    gateway.run(LOAD_MIN + 1, 200, gate.inside)  # then live, a fix a minute
    assert core_events(engine) == [("presence.arrived", at(2), SHIFT)]


def test_a_silent_guard_is_held_to_the_grace_from_the_load_not_from_08_00(
    engine: Engine, tmp_path: Path
) -> None:
    gateway = installed_at_half_past_ten(engine, tmp_path)
    tick_until(gateway, LOAD_MIN + 9.5)
    assert core_events(engine) == []  # 08:10 has long passed; 10:40 has not
    tick_until(gateway, LOAD_MIN + 12)
    assert sorted(core_events(engine)) == [
        ("alert.absent_at_shift_start", at(LOAD_MIN + 10), SHIFT),
        ("alert.device_silent", at(LOAD_MIN + 10), SHIFT),
    ]
    data = absent_payload(engine)
    # The leader sees the roster start and why the alert came at 10:40.
    assert (data["shift_start"], data["known_from"], data["grace_s"]) == (
        at(0).isoformat(),
        at(LOAD_MIN).isoformat(),
        600,
    )


def test_a_restarted_gateway_keeps_counting_from_the_load(engine: Engine, tmp_path: Path) -> None:
    gateway = installed_at_half_past_ten(engine, tmp_path)
    tick_until(gateway, LOAD_MIN + 5)  # the state is stored with the shift known from 10:30
    restarted = Processor(engine, gateway.clock)
    gateway.processor = restarted
    tick_until(gateway, LOAD_MIN + 9.5)
    assert core_events(engine) == []
    assert (state := restarted.state(SHIFT)) is not None and state.known_from == at(LOAD_MIN)


def test_a_site_loaded_before_the_shift_is_held_to_08_10_as_always(
    engine: Engine, tmp_path: Path
) -> None:
    load_site_file(site_file(tmp_path, "gate", post="jt-gate-north"), engine, at(-60))
    gateway = Gateway(engine, at(-1))
    tick_until(gateway, 12)
    assert sorted(core_events(engine)) == [
        ("alert.absent_at_shift_start", at(10), SHIFT),
        ("alert.device_silent", at(10), SHIFT),
    ]
    assert "known_from" not in absent_payload(engine)


def test_loading_the_file_again_leaves_the_shift_known_from_the_first_load(
    engine: Engine, tmp_path: Path
) -> None:
    gateway = installed_at_half_past_ten(engine, tmp_path)
    gateway.load(site_file(tmp_path, "again", post="jt-gate-north"), LOAD_MIN + 5)
    with Session(engine) as session:
        row = session.get(ShiftRow, SHIFT)
        assert row is not None and (row.known_from, row.cut_short) == (at(LOAD_MIN), False)
    tick_until(gateway, LOAD_MIN + 9.5)
    assert core_events(engine) == []


def test_patrol_rounds_and_the_clock_in_grace_count_from_the_load(
    engine: Engine, tmp_path: Path
) -> None:
    # The patrol site (route rounds at 08:30 and 09:30, a clock-in terminal at the gate),
    # first loaded at 08:50 of its 08:00-10:00 shifts; both guards on post, nobody scans or
    # clocks in.
    load_site_file(patrol_site(tmp_path), engine, at(50))
    where = {post: post_points(engine, post).inside for _, post, _ in (PATROLLER, GATE)}
    clock = ManualClock(at(50))
    processor = Processor(engine, clock)
    for minute in range(50, 125):
        clock.set(at(minute + 0.1))
        fixes = tuple(
            fix_at(device, at(minute), where[post])
            for _, post, device in (PATROLLER, GATE)
            if minute < 120
        )
        processor.process_outcomes([DecodeOutcome(fixes=fixes)])
        processor.tick()
    alerts = [(kind, when) for kind, when, _ in core_events(engine) if kind.startswith("alert.")]
    # Not the 08:30 round (its windows closed before the load), nor a clock-in due at 08:15.
    assert alerts == [
        ("alert.late_clock_in", at(65)),
        ("alert.late_clock_in", at(65)),
        ("alert.checkpoint_missed", at(95)),
        ("alert.checkpoint_missed", at(100)),
        ("alert.checkpoint_missed", at(105)),
    ]
    # Each late clock-in says its grace ran from the load, for the leader reading it at 09:05.
    late = [b for b in core_bodies(engine) if b["type"] == "alert.late_clock_in"]
    assert [b["data"]["known_from"] for b in late] == [at(50).isoformat()] * 2


def back_after_its_roster_ran_out(engine: Engine, tmp_path: Path) -> Gateway:
    """The site loaded twelve days before (its daily line expanded a week ahead), the gateway
    stopped since, and started again at 10:30: today's shift is written as it starts."""
    site = site_file(tmp_path, "gate", post="jt-gate-north")
    load_site_file(site, engine, at(LOAD_MIN - 12 * 24 * 60))
    with Session(engine) as session:
        assert session.get(ShiftRow, SHIFT) is None
    return Gateway(engine, at(LOAD_MIN))


def test_a_shift_under_way_when_the_gateway_comes_back_is_written_as_rostered(
    engine: Engine, tmp_path: Path
) -> None:
    gateway = back_after_its_roster_ran_out(engine, tmp_path)
    with Session(engine) as session:
        row = session.get(ShiftRow, SHIFT)
        assert row is not None
        # Before: a shift beginning at 10:30, under another id; the 08:02 fix below was not his.
        assert (row.starts_at, row.ends_at, row.known_from) == (at(0), at(720), at(LOAD_MIN))
    gate = points(engine, "jt-gate-north", at(LOAD_MIN))
    gateway.clock.set(at(LOAD_MIN + 1))
    late_s = (at(LOAD_MIN + 1) - at(2)).total_seconds()
    gateway.processor.process_fixes([fix_at(GUARD[2], at(2), gate.inside, received_after_s=late_s)])
    gateway.run(LOAD_MIN + 1, 200, gate.inside)
    assert core_events(engine) == [("presence.arrived", at(2), SHIFT)]


def test_a_silent_guard_is_held_to_the_grace_from_the_gateways_return(
    engine: Engine, tmp_path: Path
) -> None:
    gateway = back_after_its_roster_ran_out(engine, tmp_path)
    tick_until(gateway, LOAD_MIN + 9.5)
    assert core_events(engine) == []
    tick_until(gateway, LOAD_MIN + 12)
    assert sorted(core_events(engine)) == [
        ("alert.absent_at_shift_start", at(LOAD_MIN + 10), SHIFT),
        ("alert.device_silent", at(LOAD_MIN + 10), SHIFT),
    ]
    assert absent_payload(engine)["shift_start"] == at(0).isoformat()
