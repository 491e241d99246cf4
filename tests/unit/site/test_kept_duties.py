"""A load taking a guard or a post out of the file keeps on his shifts that had begun what
their duty needs of them (``gateway.site.kept_duties``), so a roster index read afresh after
the load, with no index before it, builds the same duty the index before the load held."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.db.models import ShiftRow
from gateway.pipeline.duty import Duty
from gateway.pipeline.duty_load import load_duties
from gateway.samples import WUHAN_SITE
from gateway.site import load_site_file
from gateway.site.loader import SiteYamlLoader

# Monday 2026-03-02 11:00 in Wuhan: the day shifts began at 08:00.
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
GATE = "g-001/jt-gate-north/20260302T000000Z"


def _site(tmp_path: Path, name: str, change: Any = None) -> Path:
    """The sample with a wand of g-001's and a clock-in terminal at the north gate."""
    data: dict[str, Any] = yaml.load(WUHAN_SITE.read_bytes(), SiteYamlLoader)
    site = data["sites"][0]
    site["devices"] += [
        {"id": "wand-001", "kind": "patrol_wand", "guard": "g-001"},
        {"id": "zk-north", "kind": "clock_in", "post": "jt-gate-north", "sn": "ZKNORTH01"},
    ]
    if change is not None:
        change(site)
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _without_guard(site: dict[str, Any]) -> None:
    site["guards"] = [g for g in site["guards"] if g["id"] != "g-001"]
    site["devices"] = [d for d in site["devices"] if d.get("guard") != "g-001"]
    site["shifts"] = [s for s in site["shifts"] if s["guard"] != "g-001"]


def _without_post(site: dict[str, Any]) -> None:
    site["posts"] = [p for p in site["posts"] if p["id"] != "jt-gate-north"]
    site["devices"] = [d for d in site["devices"] if d.get("post") != "jt-gate-north"]
    site["shifts"] = [s for s in site["shifts"] if s["post"] != "jt-gate-north"]


def _duty(engine: Engine, at: datetime, shift_id: str) -> Duty | None:
    with Session(engine) as session:
        return load_duties(session, at).duty(shift_id)


def _kept(engine: Engine) -> dict[str, dict[str, Any] | None]:
    with Session(engine) as session:
        rows = session.execute(select(ShiftRow.id, ShiftRow.kept_config)).all()
    return {row.id: row.kept_config for row in rows}


def _same_but_the_end(before: Duty, after: Duty | None, cut_at: datetime) -> None:
    assert after is not None and after.cut_short and after.ends_at == cut_at
    assert (after.guard_name, after.team, after.post_name) == (
        before.guard_name,
        before.team,
        before.post_name,
    )
    assert after.device_ids == before.device_ids == ("gps-001", "wand-001", "zk-north")
    assert after.wands == before.wands == ("wand-001",)
    assert after.fence.wgs84.equals(before.fence.wgs84)


def test_a_guard_taken_out_leaves_his_shift_what_its_duty_needs(
    tmp_path: Path, engine: Engine
) -> None:
    load_site_file(_site(tmp_path, "all.json"), engine, NOW - timedelta(hours=1))
    before = _duty(engine, NOW, GATE)
    assert before is not None and _kept(engine)[GATE] is None
    load_site_file(_site(tmp_path, "without.json", _without_guard), engine, NOW)
    _same_but_the_end(before, _duty(engine, NOW + timedelta(minutes=10), GATE), NOW)
    # His shifts that had begun keep it (today's, yesterday's, still in the roster's window):
    # his later ones are gone, and no one else's keeps anything.
    kept = {shift for shift, config in _kept(engine).items() if config is not None}
    assert kept == {GATE, "g-001/jt-gate-north/20260301T000000Z"}
    # And the leaders he named, whom his shift's alerts still go to (he has no row to say it).
    gate = _kept(engine)[GATE]
    assert gate is not None and gate["leaders"] == ["jt-leader-a"]
    # A second load keeps what the first kept.
    load_site_file(_site(tmp_path, "again.json", _without_guard), engine, NOW + timedelta(hours=1))
    _same_but_the_end(before, _duty(engine, NOW + timedelta(hours=1), GATE), NOW)


def test_a_post_taken_out_leaves_its_shifts_what_their_duties_need(
    tmp_path: Path, engine: Engine
) -> None:
    load_site_file(_site(tmp_path, "all.json"), engine, NOW - timedelta(hours=1))
    before = _duty(engine, NOW, GATE)
    assert before is not None
    load_site_file(_site(tmp_path, "no-gate.json", _without_post), engine, NOW)
    _same_but_the_end(before, _duty(engine, NOW + timedelta(minutes=10), GATE), NOW)
    # The night before at the north gate (g-006, ended at 08:00) keeps it too: its rules may
    # still owe something; it is built again though its post is gone.
    night = "g-006/jt-gate-north/20260301T120000Z"
    assert _kept(engine)[night] is not None
    assert _duty(engine, NOW + timedelta(minutes=10), night) is not None


def test_a_load_that_takes_no_one_out_keeps_nothing(tmp_path: Path, engine: Engine) -> None:
    load_site_file(_site(tmp_path, "all.json"), engine, NOW - timedelta(hours=1))
    load_site_file(_site(tmp_path, "again.json"), engine, NOW)
    assert set(_kept(engine).values()) == {None}
