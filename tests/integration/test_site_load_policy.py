"""A site load that changes a site's limits while shifts run (``policy`` in the site file)
takes effect for the machines already running at the load, through the pipeline as
``guard-gateway run`` drives it (the roster read again and adopted, the clock ticking): a
deadline the new limit brings earlier fires at the new time, not at the one the old limit
had set. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine

from gateway.outbox.cloudevents import rfc3339
from gateway.rules.entries import iso
from gateway.site import load_site_file
from tests.integration.test_site_load_mid_shift import (
    Gateway,
    at,
    back_from_leave_then_moved,
    core_bodies,
    core_events,
    on_post_until_half_past_ten,
    site_file,
)
from tests.ledger.patrol_scenario import drive, patrol_data, patrol_site

SECOND = timedelta(seconds=1)
GATE_SHIFT = f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"


def _with_policy(path: Path, **policy: float) -> Path:
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    doc["sites"][0]["policy"] = dict(policy)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _quiet(gateway: Gateway, first: int, last: int) -> None:
    """Tick the clock each minute from ``first`` to ``last`` with no fix (the terminal went
    quiet)."""
    for minute in range(first, last):
        gateway.clock.set(at(minute + 0.5))
        gateway.processor.tick()


def test_a_shorter_silence_limit_loaded_mid_shift_fires_at_the_new_limit(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, _gate = on_post_until_half_past_ten(engine, tmp_path)  # last fix 10:29
    # At 10:30 the site's silence limit goes from 10 minutes to 2: his terminal was last
    # heard at 10:29:01, so it is silent from 10:31:01, not from 10:39:01 as the old limit
    # had it.
    shorter = _with_policy(site_file(tmp_path, "short", post="jt-gate-north"), device_silent_s=120)
    gateway.load(shorter, 150)
    _quiet(gateway, 150, 152)  # the clock at 10:31:30
    assert core_events(engine)[-1:] == [("alert.device_silent", at(151) + SECOND, GATE_SHIFT)]


def test_a_longer_silence_limit_loaded_mid_shift_holds_the_alert_back(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, _gate = on_post_until_half_past_ten(engine, tmp_path)
    longer = _with_policy(site_file(tmp_path, "long", post="jt-gate-north"), device_silent_s=1800)
    gateway.load(longer, 150)
    _quiet(gateway, 150, 179)  # the clock at 10:58:30
    # Heard at 10:29:01 + 30 minutes: nothing at 10:39:01 (the old limit), the alert at
    # 10:59:01.
    assert [kind for kind, _, _ in core_events(engine)] == ["presence.arrived"]
    _quiet(gateway, 179, 180)
    assert core_events(engine)[-1:] == [("alert.device_silent", at(179) + SECOND, GATE_SHIFT)]


def test_limits_changed_while_the_gateway_was_down_count_from_its_start(
    engine: Engine, tmp_path: Path
) -> None:
    on_post_until_half_past_ten(engine, tmp_path)
    # The gateway stops at 10:30; the shorter limit is loaded while it is down.
    shorter = _with_policy(site_file(tmp_path, "short", post="jt-gate-north"), device_silent_s=120)
    load_site_file(shorter, engine, at(150))
    restarted = Gateway(engine, at(150.2))
    _quiet(restarted, 150, 152)
    # The states read at the start were stepped under the old limit: the silence is due at
    # 10:31:01 (after the restart's grace), not at 10:39:01.
    assert core_events(engine)[-1:] == [("alert.device_silent", at(151) + SECOND, GATE_SHIFT)]


def test_a_shorter_cancel_limit_holds_for_a_shift_already_ended(
    engine: Engine, tmp_path: Path
) -> None:
    # Back from leave at 10:00, never cancelling it; moved at 10:30 (the gate shift ends).
    gateway, plaza = back_from_leave_then_moved(engine, tmp_path)
    gateway.run(150, 155, plaza.inside)
    # At 10:35 the hour to cancel becomes 40 minutes: the ended gate shift still owes that
    # decision, now due at 10:40 (not 11:00).
    shorter = _with_policy(site_file(tmp_path, "short", post="jt-plaza"), leave_cancel_limit_s=2400)
    gateway.load(shorter, 155)
    gateway.run(155, 161, plaza.inside)
    assert core_events(engine)[-1:] == [("alert.leave_not_cancelled", at(160), GATE_SHIFT)]
    assert [kind for kind, _, _ in core_events(engine)].count("alert.leave_not_cancelled") == 1


def _patrol_site_with(tmp_path: Path, name: str, **policy: float) -> Path:
    (tmp_path / name).mkdir()
    return _with_policy(patrol_site(tmp_path / name), **policy)


def test_a_shorter_clock_in_grace_loaded_mid_shift_fires_at_the_new_grace(
    engine: Engine, tmp_path: Path
) -> None:
    load_site_file(_patrol_site_with(tmp_path, "first"), engine, at(-60))
    # Nobody clocks in. At 08:05 the grace goes from 15 minutes to 3.
    drive(engine, {5: _patrol_site_with(tmp_path, "short", clock_in_grace_s=180)}, {})
    late = [
        (e["time"], e["data"]["guard_id"], e["data"]["detected_at"])
        for e in core_bodies(engine)
        if e["type"] == "alert.late_clock_in"
    ]
    # Due at 08:03 by the new grace, so decided at the load's tick (08:05:06), not at 08:15.
    assert sorted(late) == [(rfc3339(at(3)), g, iso(at(5.1))) for g in ("g-001", "g-004")]


def test_a_shorter_patrol_tolerance_loaded_mid_round_settles_the_round_sooner(
    engine: Engine, tmp_path: Path
) -> None:
    load_site_file(_patrol_site_with(tmp_path, "first"), engine, at(-60))
    # The 08:30 round: east and fountain scanned, west's window closes unscanned at 08:45;
    # the round settles after the 5-minute tolerance, at 08:50. At 08:46 the tolerance goes
    # to 1 minute: it settles at once (a patrol machine is scheduled by its shift's limits
    # as they are, so this held before the presence and attendance machines did the same).
    loads = {46: _patrol_site_with(tmp_path, "short", patrol_late_tolerance_s=60)}
    drive(engine, loads, {31: "cp-east", 36: "cp-fountain"})
    completed = [when for kind, when, _ in patrol_data(engine) if kind == "patrol.round_completed"]
    assert completed[:1] == [at(46)]
