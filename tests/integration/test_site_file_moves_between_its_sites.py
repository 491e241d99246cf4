"""One site file that moves a guard (with his terminal) from one of its sites to another loads
whatever the order of its sites (``gateway.site.store.clear_site``), on SQLite and PostgreSQL.

Before, the sites were cleared and written one at a time in the file's order: with the
destination listed first, its new rows met the guard's old row, still there under the site
listed later, and the load failed ("UNIQUE constraint failed: guards.id").
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.db.models import DeviceRow, GuardRow
from gateway.site import load_site_file
from tests.e2e.helpers import DAY_START, roster_site


def _other_site(guards: list[str]) -> dict[str, Any]:
    """A second compound, wh-other, with one post; ``guards`` there 08:00-20:00 daily."""
    return {
        "id": "wh-other",
        "name": "other",
        "posts": [
            {
                "id": "ot-gate",
                "name": "gate",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.35, 30.62], "radius_m": 30},
            }
        ],
        "leaders": [{"id": "ot-lead", "name": "L", "team": "A"}],
        "guards": [{"id": g, "name": g, "team": "A"} for g in guards],
        "devices": [{"id": f"gps-{g}", "kind": "gps", "guard": g} for g in guards],
        "shifts": [
            {"guard": g, "post": "ot-gate", "days": "daily", "start": "08:00", "end": "20:00"}
            for g in guards
        ],
    }


def _file(tmp_path: Path, name: str, here: list[str], there: list[str], first: str) -> Path:
    (tmp_path / name).mkdir()
    terminals = [(g, "jt-gate-north" if g == "g-001" else "jt-gate-east", f"gps-{g}") for g in here]
    jiangtan = yaml.safe_load(roster_site(tmp_path / name, terminals).read_text("utf-8"))
    sites = [jiangtan["sites"][0], _other_site(there)]
    path = tmp_path / f"{name}.yaml"
    doc = {"sites": sites if first == "jiangtan" else sites[::-1]}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("first", ["jiangtan", "wh-other"])
def test_a_guard_moved_between_two_sites_of_one_file_loads_in_either_order(
    engine: Engine, tmp_path: Path, first: str
) -> None:
    load_site_file(_file(tmp_path, "one", ["g-001", "g-002"], ["g-003"], first), engine, DAY_START)
    moved = _file(tmp_path, "two", ["g-002"], ["g-003", "g-001"], first)
    load_site_file(moved, engine, DAY_START + timedelta(hours=2))
    with Session(engine) as session:
        assert session.get(GuardRow, "g-001").site_id == "wh-other"  # type: ignore[union-attr]
        device = session.scalar(select(DeviceRow).where(DeviceRow.id == "gps-g-001"))
        assert device is not None and device.site_id == "wh-other"
