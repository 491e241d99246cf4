"""A site load does not erase the record of past days: the ledger of a day driven through the
real pipeline (tests/ledger/scenario.py) reads the same after ``guard-gateway site load``
stores the site again, unchanged or without one of its guards and his post, and the gateway's
roster still reads around the shifts the file no longer names. SQLite and PostgreSQL.

The loads go through the command, dated by its own clock: the wall time, long after the
driven day of March 2026, so every shift of that day has ended when they run."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.cli import main
from gateway.clock import ManualClock
from gateway.db.models import GuardRow, PositionRow, PostRow, PresenceStateRow, ShiftRow
from gateway.pipeline.duty_load import load_duties
from gateway.pipeline.processor import Processor
from gateway.site import load_site_file
from tests.e2e.helpers import fix_at, post_points, roster_site
from tests.ledger.scenario import DAY, GUARD, STAYER, at, drive_day

SITE = "wh-jiangtan-garden"


@pytest.fixture
def day(engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The driven day, with the commands pointed at its database."""
    drive_day(engine, tmp_path)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    return engine


def _ledger(out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["ledger", DAY, "--site", SITE, "--out", str(out)]) == 0, capsys.readouterr().err
    ledger: dict[str, Any] = json.loads((out / f"ledger-{SITE}-{DAY}.json").read_text("utf-8"))
    return ledger


def _figures(ledger: dict[str, Any], guard_id: str) -> dict[str, Any]:
    """A guard's line of the ledger, less who he is (name, team: the site file's today)."""
    guard = next(g for g in ledger["guards"] if g["guard_id"] == guard_id)
    return {k: v for k, v in guard.items() if k not in ("name", "team")}


def _without_stayer(tmp_path: Path) -> Path:
    """The day's site file without g-006 (and his terminal) and without his post."""
    path = roster_site(tmp_path, [GUARD], hours={GUARD[0]: ("08:00", "10:00")})
    doc = yaml.safe_load(path.read_text("utf-8"))
    doc["sites"][0]["posts"] = [p for p in doc["sites"][0]["posts"] if p["id"] != STAYER[1]]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_loading_the_same_site_again_leaves_a_past_day_s_ledger_as_it_was(
    day: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _ledger(tmp_path / "before", capsys)
    assert {g["guard_id"] for g in before["guards"]} == {GUARD[0], STAYER[0]}
    assert _figures(before, GUARD[0])["on_post_s"] == 3600

    site_file = roster_site(
        tmp_path,
        [GUARD, STAYER],
        hours={GUARD[0]: ("08:00", "10:00"), STAYER[0]: ("08:00", "10:00")},
    )
    assert main(["site", "load", str(site_file)]) == 0

    after = _ledger(tmp_path / "after", capsys)
    for ledger in (before, after):
        ledger.pop("generated_at", None)
    assert after == before


def test_a_guard_and_post_dropped_from_the_file_keep_their_past_shifts_in_the_ledger(
    day: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _ledger(tmp_path / "before", capsys)

    assert main(["site", "load", str(_without_stayer(tmp_path))]) == 0

    with Session(day) as session:
        assert session.get(GuardRow, STAYER[0]) is None
        assert session.get(PostRow, STAYER[1]) is None
        kept = {
            (row.post_id, row.starts_at, row.ends_at)
            for row in session.scalars(select(ShiftRow).where(ShiftRow.guard_id == STAYER[0]))
        }
    # The nine days his roster line gave at the first load (1-9 March) had all ended by this
    # load: each is kept, the driven day's among them.
    assert len(kept) == 9
    assert (STAYER[1], at(0), at(120)) in kept
    after = _ledger(tmp_path / "after", capsys)
    assert _figures(after, STAYER[0]) == _figures(before, STAYER[0])
    assert _figures(after, STAYER[0])["on_post_s"] == 7200
    assert _figures(after, GUARD[0]) == _figures(before, GUARD[0])


def test_the_roster_reads_a_kept_shift_whose_guard_and_post_are_gone_from_what_it_kept(
    day: Engine, tmp_path: Path
) -> None:
    # Reloaded half an hour after the shifts ended: they are still in the roster's window
    # (two days back, for late fixes). The dropped guard's shifts may still owe decisions (a
    # leave to cancel within the hour, an alert a late upload withdraws), so their duties are
    # built from what the load kept on the shift rows (``gateway.site.kept_duties``), ended
    # as they were; nothing new is expected of him.
    reloaded = at(150)
    load_site_file(_without_stayer(tmp_path), day, reloaded)
    with Session(day) as session:
        assert session.scalar(select(ShiftRow.id).where(ShiftRow.guard_id == STAYER[0]))
        index = load_duties(session, reloaded + timedelta(minutes=1))
    kept = index.duties_of_guard(STAYER[0])
    assert kept and all(
        (d.post_id, d.device_ids, d.cut_short) == (STAYER[1], (STAYER[2],), False)
        and d.ends_at <= reloaded
        for d in kept
    )
    assert STAYER[0] not in {d.guard_id for d in index.active(reloaded + timedelta(minutes=1))}
    assert sorted(d.guard_id for d in index.active(at(60))) == sorted([GUARD[0], STAYER[0]])
    # His rule state is kept with his shift; the pipeline reads around both.
    with Session(day) as session:
        assert session.scalar(
            select(func.count())
            .select_from(PresenceStateRow)
            .where(PresenceStateRow.guard_id == STAYER[0])
        )
    # Next morning his shift again, the dropped guard's still in the roster's window.
    tomorrow = at(24 * 60 + 1)
    clock = ManualClock(tomorrow)
    processor = Processor(day, clock)
    processor.process_fixes([fix_at(GUARD[2], tomorrow, post_points(day, GUARD[1]).inside)])
    clock.set(tomorrow + timedelta(minutes=10))
    processor.tick()
    with Session(day) as session:
        assert session.scalar(select(func.max(PositionRow.fix_time))) == tomorrow
