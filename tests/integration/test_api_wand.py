"""Offline patrol wands: a downloaded log imported over HTTP, skew-corrected, never twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import ScanRow
from gateway.outbox.tables import OutboxRow
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, SAMPLE_SITE
from tests.fixtures.api_server import api_over_http
from tests.fixtures.api_tokens import bearer, new_token

WAND = "wand-07"


def _site_with_wand(tmp_path: Path) -> Path:
    doc = yaml.safe_load(SAMPLE_SITE.read_text(encoding="utf-8"))
    site = doc["sites"][0]
    site["devices"].append({"id": WAND, "kind": "patrol_wand", "guard": "g-004"})
    site["checkpoints"] = [
        {"id": "cp-a", "name": "A", "post": "jt-patrol-central", "tags": ["0100A1B2C3"]},
        {"id": "cp-b", "name": "B", "post": "jt-patrol-central", "tags": ["0100A1B2C4"]},
    ]
    site["routes"] = [
        {
            "id": "garden",
            "post": "jt-patrol-central",
            "schedule": {"every_min": 60, "offset_min": 0},
            "checkpoints": [
                {"checkpoint": "cp-a", "window_min": [0, 10]},
                {"checkpoint": "cp-b", "window_min": [10, 20]},
            ],
        }
    ]
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def api(engine: Engine, tmp_path: Path) -> Iterator[tuple[httpx.Client, ManualClock]]:
    clock = ManualClock(DAY_START + timedelta(minutes=40))
    load_site_file(_site_with_wand(tmp_path), engine, clock.now())
    with api_over_http(engine, clock) as http:
        yield http, clock


def test_wand_download_is_corrected_for_skew_and_imported_once(
    api: tuple[httpx.Client, ManualClock], engine: Engine
) -> None:
    http, clock = api
    # The wand's clock runs 5 minutes fast: its 08:07 and 08:17 (local) are 08:02 and 08:12.
    wand_clock = clock.now() + timedelta(minutes=5)
    log = f"wand_id,tag_id,time\n{WAND},0100A1B2C3,2026-03-02 08:07:00\n"
    log += f"{WAND},0100A1B2C4,2026-03-02 08:17:00\n"
    params = {"wand_clock": wand_clock.isoformat()}

    first = http.post(f"/wands/{WAND}/downloads", content=log, params=params)
    again = http.post(f"/wands/{WAND}/downloads", content=log, params=params)

    assert first.status_code == 201, first.text
    assert first.json()["stored"] == 2
    assert first.json()["skew_s"] == pytest.approx(-300)
    assert again.json()["stored"] == 0
    assert again.json()["duplicates"] == 2
    with Session(engine) as s:
        times = sorted(s.scalars(select(ScanRow.scanned_at)))
        scanned = s.scalar(
            select(func.count()).where(OutboxRow.type == "patrol.checkpoint_scanned")
        )
    assert times == [
        datetime(2026, 3, 2, 0, 2, tzinfo=UTC),
        datetime(2026, 3, 2, 0, 12, tzinfo=UTC),
    ]
    assert scanned == 2


def test_unknown_wand_and_bad_requests_get_4xx(api: tuple[httpx.Client, ManualClock]) -> None:
    http, clock = api
    params = {"wand_clock": clock.now().isoformat()}
    unknown = http.post("/wands/nope/downloads", content="wand_id,tag_id,time\n", params=params)
    naive = http.post(
        "/wands/{WAND}/downloads",
        content="wand_id,tag_id,time\n",
        params={"wand_clock": "2026-03-02T08:00:00"},
    )
    assert unknown.status_code == 404
    assert "unknown patrol wand" in unknown.json()["detail"]
    # A GPS terminal's id is no wand's: its log would be scans of nobody's.
    terminal = http.post("/wands/gps-004/downloads", content="wand_id,tag_id,time\n", params=params)
    assert terminal.status_code == 404
    assert terminal.json()["detail"] == "unknown patrol wand 'gps-004'"
    assert naive.status_code == 422


def test_a_leader_imports_the_wands_of_his_sites_only(
    api: tuple[httpx.Client, ManualClock], engine: Engine
) -> None:
    http, clock = api
    log = f"wand_id,tag_id,time\n{WAND},0100A1B2C3,2026-03-02 08:02:00\n"
    params = {"wand_clock": clock.now().isoformat()}

    def send(role: str, *sites: str) -> httpx.Response:
        token = new_token(engine, role, name=f"{role} {sites}", sites=sites)
        return http.post(
            f"/wands/{WAND}/downloads", content=log, params=params, headers=bearer(token)
        )

    # The wand is g-004's, of team A: his team's leader downloads it, team B's does not.
    team_a = new_token(engine, "leader", name="team A", sites=("wh-jiangtan-garden",), teams=("A",))
    team_b = new_token(engine, "leader", name="team B", sites=("wh-jiangtan-garden",), teams=("B",))
    other_team = http.post(
        f"/wands/{WAND}/downloads", content=log, params=params, headers=bearer(team_b)
    )
    assert other_team.status_code == 404
    own_team = http.post(
        f"/wands/{WAND}/downloads", content=log, params=params, headers=bearer(team_a)
    )
    assert own_team.status_code == 201 and own_team.json()["stored"] == 1
    elsewhere = send("leader", "jt-elsewhere")
    assert elsewhere.status_code == 404
    assert elsewhere.json()["detail"] == "unknown patrol wand 'wand-07'"
    assert send("integration").status_code == 403
    own = send("leader", "wh-jiangtan-garden")
    assert own.status_code == 201 and own.json()["duplicates"] == 1
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(ScanRow)) == 1


def test_a_wand_kept_at_a_post_is_downloaded_by_the_leaders_of_the_teams_on_duty_there(
    engine: Engine, tmp_path: Path
) -> None:
    # The plaza's wand stays in its booth: team A keeps the plaza (g-005, 08:00-20:00), team
    # B does not. Before, only a leader of the whole site could download it: the team
    # leader who takes the booth's wand back was answered 404.
    path = _site_with_wand(tmp_path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["sites"][0]["devices"].append(
        {"id": "wand-plaza", "kind": "patrol_wand", "post": "jt-plaza"}
    )
    doc["sites"][0]["checkpoints"].append(
        {"id": "cp-plaza", "name": "Plaza", "post": "jt-plaza", "tags": ["0100A1B2C9"]}
    )
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    clock = ManualClock(DAY_START + timedelta(minutes=40))
    load_site_file(path, engine, clock.now())
    log = "wand_id,tag_id,time\nwand-plaza,0100A1B2C9,2026-03-02 08:02:00\n"
    params = {"wand_clock": clock.now().isoformat()}
    site = ("wh-jiangtan-garden",)
    leaders = {
        name: new_token(engine, "leader", name=name, sites=site, teams=teams)
        for name, teams in (("team A", ("A",)), ("team B", ("B",)), ("site", ()))
    }
    with api_over_http(engine, clock) as http:

        def send(leader: str) -> httpx.Response:
            return http.post(
                "/wands/wand-plaza/downloads",
                content=log,
                params=params,
                headers=bearer(leaders[leader]),
            )

        other_team = send("team B")
        assert other_team.status_code == 404
        assert other_team.json()["detail"] == "unknown patrol wand 'wand-plaza'"
        on_duty_there = send("team A")
        assert on_duty_there.status_code == 201 and on_duty_there.json()["stored"] == 1
        whole_site = send("site")
        assert whole_site.status_code == 201 and whole_site.json()["duplicates"] == 1
