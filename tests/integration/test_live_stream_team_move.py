"""A guard moved to another team while the leaders' live pages are open: his events follow him
to his new leader's stream and no longer reach his old one. The gateway as ``run`` builds it,
over real HTTP; SQLite and PostgreSQL.

张伟 (g-001) keeps the north gate for team A. At 08:05 the office moves him to team B (a new site
file, loaded while the gateway runs: ``guard-gateway site load``). Team A's leader 刘建国 saw his
arrival at 08:01 on his page; the departure at 08:05 and its alert now belong to team B's
陈志强 (art. 12.3: access limited by role and team). The stream remembered each guard's team
from the first event it saw of him, for the life of the process: 刘建国 went on receiving
张伟's departures, positions included, and 陈志强 never saw them, while ``/alerts`` already
answered by the new team.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.site.loader import load_site_file
from tests.e2e.helpers import SAMPLE_SITE
from tests.fixtures.built_live import BuiltLive, built_sample_site, load_built_sample_site
from tests.fixtures.live_gateway import SITE, at
from tests.integration.test_live_page_api import StreamReader


@pytest.fixture
def built(db_url: str) -> Iterator[BuiltLive]:
    load_built_sample_site(db_url)
    with built_sample_site(db_url) as gateway:
        yield gateway


def moved_to_team_b(tmp_path: Path) -> Path:
    doc: dict[str, Any] = yaml.safe_load(SAMPLE_SITE.read_text("utf-8"))
    for guard in doc["sites"][0]["guards"]:
        if guard["id"] == "g-001":
            guard.update(team="B", leaders=["jt-leader-b"])
    path = tmp_path / "g-001-in-team-b.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def events_until_quiet(stream: StreamReader, quiet_s: float) -> list[tuple[str, str]]:
    """(type, subject) of each event the stream carried until ``quiet_s`` passed without one."""
    seen: list[tuple[str, str]] = []
    try:
        while True:
            block = stream.next(timeout=quiet_s)
            seen.append((block["event"], block.get("data", "")))
    except queue.Empty:
        return [(kind, '"g-001"' if '"subject":"g-001"' in data else data) for kind, data in seen]


def test_a_guard_moved_to_team_b_is_streamed_to_team_bs_leader_and_no_longer_to_team_as(
    built: BuiltLive, tmp_path: Path
) -> None:
    live = built.live
    team_a = StreamReader(live.url, live.token("leader", "刘建国", sites=(SITE,), teams=("A",)))
    team_b = StreamReader(live.url, live.token("leader", "陈志强", sites=(SITE,), teams=("B",)))
    try:
        assert team_a.next()["event"] == "hello" and team_b.next()["event"] == "hello"
        live.walk("gps-001", 1, 5, inside=True)
        assert events_until_quiet(team_a, 2) == [("presence.arrived", '"g-001"')]
        assert events_until_quiet(team_b, 0.5) == []

        load_site_file(moved_to_team_b(tmp_path), live.engine, at(5))
        live.walk("gps-001", 5, 8, inside=False)

        moved = [("presence.departed", '"g-001"'), ("alert.unreported_departure", '"g-001"')]
        assert events_until_quiet(team_b, 2) == moved
        assert events_until_quiet(team_a, 0.5) == []
        # The alerts list agrees with the streams.
        alerts_of = {
            name: [a["guard_id"] for a in live.client(token).get("/alerts").json()]
            for name, token in (
                ("A", live.token("leader", "a2", sites=(SITE,), teams=("A",))),
                ("B", live.token("leader", "b2", sites=(SITE,), teams=("B",))),
            )
        }
        assert alerts_of == {"A": [], "B": ["g-001"]}
    finally:
        team_a.close()
        team_b.close()
