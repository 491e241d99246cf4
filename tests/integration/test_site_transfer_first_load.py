"""A guard transferred to a site the gateway loads for the first time is moved, not installed
(``gateway.site.shift_writes``): his shift there begins at the load, as any reload writes a
shift under way, and none of his past days is written there again. Through the pipeline as
``guard-gateway run`` drives it; SQLite and PostgreSQL.

The case a company meets: g-001 on duty at the Jiangtan garden's north gate from 08:00 is
sent at 10:30 to a new customer, the plaza tower, whose site the file adds that moment. Both
rosters say 08:00-20:00. Before, the new site's first load wrote his 08:00 shift there as
rostered: both sites' ledgers counted 08:00-10:30, and yesterday was written twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.db.models import ShiftRow
from gateway.ledger.service import day_ledger
from gateway.site import load_site_file
from tests.e2e.helpers import DAY_START, roster_site
from tests.integration.test_site_load_mid_shift import (
    SITE,
    Gateway,
    at,
    core_events,
    points,
)

TOWER = "wh-plaza-tower"
TOWER_POST = "pt-lobby"
MOVED = ("g-001", "jt-gate-north", "gps-a")
STAYS = ("g-002", "jt-gate-north", "gps-b")
NEWCOMER = "g-301"  # the tower's own guard, new to the gateway


def tower_site(garden: dict[str, Any], guards: list[str]) -> dict[str, Any]:
    """The tower: one post (the garden's north gate's fence, under another id), one leader,
    ``guards`` each wearing a terminal of their own, 08:00-20:00 every day."""
    gate = next(p for p in garden["posts"] if p["id"] == "jt-gate-north")
    devices = {MOVED[0]: MOVED[2], NEWCOMER: "gps-tower-1"}
    return {
        "id": TOWER,
        "name": "plaza tower",
        "timezone": garden["timezone"],
        "policy": {},
        "posts": [{**gate, "id": TOWER_POST, "name": "lobby"}],
        "leaders": [{"id": "pt-leader", "name": "tower leader", "team": "T"}],
        "guards": [
            {"id": g, "name": f"guard {g}", "team": "T", "leaders": ["pt-leader"]} for g in guards
        ],
        "devices": [{"id": devices[g], "kind": "gps", "guard": g} for g in guards],
        "shifts": [
            {"guard": g, "post": TOWER_POST, "days": "daily", "start": "08:00", "end": "20:00"}
            for g in guards
        ],
    }


def garden_file(tmp_path: Path, name: str, terminals: list[tuple[str, str, str]]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return roster_site(folder, terminals)


def with_tower(path: Path, guards: list[str], *, tower_first: bool) -> Path:
    """``path``'s file with the tower added, listed before or after the garden."""
    doc = yaml.safe_load(path.read_text("utf-8"))
    tower = tower_site(doc["sites"][0], guards)
    doc["sites"] = [tower, *doc["sites"]] if tower_first else [*doc["sites"], tower]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def tower_only(tmp_path: Path, guards: list[str]) -> Path:
    garden = yaml.safe_load(garden_file(tmp_path, "garden-for-tower", [STAYS]).read_text("utf-8"))
    path = tmp_path / "tower.yaml"
    doc = {"sites": [tower_site(garden["sites"][0], guards)]}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def shifts_of(engine: Engine, guard_id: str) -> list[tuple[str, datetime, datetime, bool]]:
    """``(site, start, end, cut short)`` of ``guard_id``'s stored shifts from yesterday 08:00
    to today's end, by start."""
    with Session(engine) as session:
        rows = session.execute(
            select(ShiftRow.site_id, ShiftRow.starts_at, ShiftRow.ends_at, ShiftRow.cut_short)
            .where(
                ShiftRow.guard_id == guard_id,
                ShiftRow.starts_at >= at(-24 * 60),
                ShiftRow.starts_at < at(24 * 60),
            )
            .order_by(ShiftRow.starts_at)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def scheduled_s(engine: Engine, site_id: str, guard_id: str, now: datetime) -> int:
    ledger = day_ledger(engine, site_id, DAY_START.date(), now)
    return sum(g["scheduled_s"] for g in ledger["guards"] if g["guard_id"] == guard_id)


def on_the_gate_since_yesterday(engine: Engine, tmp_path: Path, until: int = 150) -> Gateway:
    """The garden loaded the day before; g-001 on post at the north gate from 08:00 to
    ``until`` (minutes after 08:00) today."""
    path = garden_file(tmp_path, "garden", [MOVED, STAYS])
    load_site_file(path, engine, at(-24 * 60 - 60))
    gateway = Gateway(engine, at(-1))
    gate = points(engine, "jt-gate-north", at(1))
    gateway.run(0, until, gate.inside)
    return gateway


@pytest.mark.parametrize("tower_first", [False, True], ids=["garden-first", "tower-first"])
def test_a_guard_moved_to_a_new_site_starts_there_at_the_load(
    engine: Engine, tmp_path: Path, tower_first: bool
) -> None:
    gateway = on_the_gate_since_yesterday(engine, tmp_path)
    moved_file = with_tower(
        garden_file(tmp_path, "moved", [STAYS]), [MOVED[0], NEWCOMER], tower_first=tower_first
    )
    gateway.load(moved_file, 150)
    lobby = points(engine, TOWER_POST, at(151))
    gateway.run(150, 240, lobby.inside)

    yesterday = at(-24 * 60)
    assert shifts_of(engine, MOVED[0]) == [
        (SITE, yesterday, yesterday + timedelta(hours=12), False),
        (SITE, at(0), at(150), True),
        (TOWER, at(150), at(12 * 60), False),
    ]
    # One duty at a time: the two ledgers of the day add up to his 12 hours.
    assert scheduled_s(engine, SITE, MOVED[0], at(240)) == 150 * 60
    assert scheduled_s(engine, TOWER, MOVED[0], at(240)) == (12 * 60 - 150) * 60
    tower_shift = f"{MOVED[0]}/{TOWER_POST}/{at(150):%Y%m%dT%H%M%SZ}"
    assert ("presence.arrived", at(150), tower_shift) in core_events(engine)
    # The tower's own guard, new to the gateway, is installed as a first load installs:
    # his shift from the roster's start, held to his graces from the load.
    with Session(engine) as session:
        newcomer = session.execute(
            select(ShiftRow.starts_at, ShiftRow.known_from).where(
                ShiftRow.guard_id == NEWCOMER, ShiftRow.starts_at == at(0)
            )
        ).one()
    assert tuple(newcomer) == (at(0), at(150))


def test_a_guard_taken_off_one_site_then_added_to_a_new_one_is_not_on_both(
    engine: Engine, tmp_path: Path
) -> None:
    gateway = on_the_gate_since_yesterday(engine, tmp_path, until=120)
    gateway.load(garden_file(tmp_path, "without", [STAYS]), 120)  # off the garden at 10:00
    gateway.load(tower_only(tmp_path, [MOVED[0]]), 150)  # the tower's first load at 10:30

    assert shifts_of(engine, MOVED[0])[1:] == [
        (SITE, at(0), at(120), True),
        (TOWER, at(150), at(12 * 60), False),
    ]
    assert scheduled_s(engine, TOWER, MOVED[0], at(160)) == (12 * 60 - 150) * 60
