"""Whose ledger line and track a shift is after a load moves its guard to another site or team,
or takes him out of the file: that shift's, over real HTTP, on SQLite and PostgreSQL.

张伟 (g-001, team A of 江滩花园) keeps the north gate from 08:00; at 10:30 a load moves him,
from tomorrow, to the other compound (wh-other, team C) or to team B of his own, or takes him
out of the file: his shift at the north gate ends there. That day's ledger of 江滩花园 has the
shift (08:00-10:30, its minutes in team A's totals) as a line of team A under his name: team
A's leader reads it, its timeline and the track of those hours; the leader he was moved under
reads none of it, and his new site's ledger of the day has no shift of his. The administrator
reads everything. Tomorrow's shift, his new row's, is on his new leader's ledger, not team A's.
Before, the ledger and the track read his row as the load rewrote it: team A's leader lost the
line (404 on its timeline and on the track), and his new leader had the line (in team B's
totals; taken out of the file, nobody's but the administrator's) and the track.

The gateway as ``run`` builds it, its API served on a real HTTP port.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.clock import ManualClock
from gateway.lifecycle import Gateway
from gateway.site.loader import load_site_file
from tests.e2e.helpers import post_points
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.robot_gateway import fixes_a_minute
from tests.integration import test_moved_guard_scope as moved_scope
from tests.integration.test_moved_guard_robots import SECRETS
from tests.integration.test_moved_guard_scope import LEADERS, _moved_file
from tests.integration.test_site_load_mid_shift import SITE, at

DAY = at(0).date().isoformat()
NEW_LEADER = {"site": "C", "team": "B", "removed": None}
NEW_SITE = {"site": "wh-other", "team": SITE, "removed": None}
SHIFT_S = 150 * 60.0
"""His shift at the north gate: 08:00 to the load at 10:30."""

# The scope test's fixtures: the same site served as ``run`` serves it, moved by the same load.
clock = moved_scope.clock
served = moved_scope.served


def _ledger(client: httpx.Client, site: str) -> dict[str, Any]:
    answer = client.get("/ledger", params={"date": DAY, "site": site})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _his_lines(ledger: dict[str, Any]) -> list[tuple[str | None, str, int, float]]:
    """张伟's lines: team, name, number of shifts, scheduled seconds. A line of a shift the
    load kept says so, his row's line does not."""
    lines = [g for g in ledger["guards"] if g["guard_id"] == "g-001"]
    assert all(g["kept_by_load"] is (g["team"] == "A") for g in lines), lines
    return [(g["team"], g["name"], len(g["shifts"]), g["scheduled_s"]) for g in lines]


def _team_scheduled(ledger: dict[str, Any], team: str) -> float:
    return sum(t["scheduled_s"] for t in ledger["teams"] if t["team"] == team)


def _track(client: httpx.Client) -> tuple[int, list[datetime]]:
    answer = client.get("/guards/g-001/track", params={"date": DAY})
    if answer.status_code != 200:
        return answer.status_code, []
    return 200, [datetime.fromisoformat(p["time"]) for p in answer.json()["points"]]


def _segments(client: httpx.Client, site: str) -> int | None:
    """The shift segments of 张伟's timeline; ``None`` when answered 404."""
    answer = client.get("/ledger/timeline", params={"date": DAY, "site": site, "guard_id": "g-001"})
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    return answer.text.count('class="seg ')


@pytest.mark.parametrize("move", ["site", "team", "removed"])
def test_a_moved_guards_ended_shift_is_on_its_teams_ledger_and_track_not_his_new_ones(
    served: tuple[Gateway, str], clock: ManualClock, tmp_path: Path, move: str
) -> None:
    gateway, url = served
    tokens = {
        name: new_token(gateway.engine, "leader", name=name, **s) for name, s in LEADERS.items()
    }
    tokens["admin"] = new_token(gateway.engine)
    clients = {
        name: httpx.Client(base_url=url, timeout=10, headers=bearer(t))
        for name, t in tokens.items()
    }
    try:
        gate = post_points(gateway.engine, "jt-gate-north")
        fixes_a_minute(gateway, clock, 0, 150, gate.inside)
        clock.set(at(150))
        load_site_file(
            _moved_file(tmp_path / "moved", move), gateway.engine, clock.now(), set(SECRETS)
        )
        read = gateway.processor.read_roster()
        assert read is not None and gateway.processor.adopt_roster(read)
        fixes_a_minute(gateway, clock, 150, 160, gate.outside)
        fixes_a_minute(gateway, clock, 160, 180, None)
        new_leader = NEW_LEADER[move]

        # 江滩花园's ledger: the shift is team A's line, under his name, in team A's totals.
        kept = ("A", "张伟", 1, SHIFT_S)
        ledgers = {name: _ledger(clients[name], SITE) for name in ("A", "admin")}
        for name, ledger in ledgers.items():
            assert [line for line in _his_lines(ledger) if line[2]] == [kept], name
            assert _team_scheduled(ledger, "A") >= SHIFT_S, name
        assert _team_scheduled(ledgers["A"], "A") == _team_scheduled(ledgers["admin"], "A")
        if new_leader is not None:
            answer = clients[new_leader].get("/ledger", params={"date": DAY, "site": SITE})
            if move == "team":  # his new team's ledger lists him, with no shift that day
                assert _his_lines(answer.json()) == [("B", "张伟", 0, 0.0)]
                every = _ledger(clients["admin"], SITE)
                assert _team_scheduled(answer.json(), "B") == _team_scheduled(every, "B")
            else:
                assert answer.status_code == 404, answer.text
            # His new site's ledger of the day: no shift of his (tomorrow's is his first).
            ledger = _ledger(clients[new_leader], NEW_SITE[move] or SITE)
            assert [line[2:] for line in _his_lines(ledger)] == [(0, 0.0)]
        # The shift's timeline: team A's, drawn; nothing of it for the new leader.
        assert (_segments(clients["A"], SITE) or 0) > 0
        assert _segments(clients["admin"], SITE) == _segments(clients["A"], SITE)
        if new_leader is not None:
            assert not _segments(clients[new_leader], NEW_SITE[move] or SITE)

        # His track of the day: the shift's fixes are team A's (those after the load, of no
        # shift, are kept by no track); his new leader reads none of them.
        status, old = _track(clients["A"])
        assert status == 200
        assert len(old) == 150 and all(at(0) <= t < at(150) for t in old), old
        assert _track(clients["admin"]) == (200, old)
        if new_leader is not None:
            assert _track(clients[new_leader]) == (200, [])

        # Tomorrow's shift is his row's: on his new leader's ledger, not on team A's.
        tomorrow = {"date": at(24 * 60).date().isoformat()}
        answer = clients["A"].get("/ledger", params={**tomorrow, "site": SITE})
        assert [line[2] for line in _his_lines(answer.json())] in ([], [0])
        if new_leader is not None:
            site = NEW_SITE[move] or SITE
            answer = clients[new_leader].get("/ledger", params={**tomorrow, "site": site})
            assert [line[2] for line in _his_lines(answer.json())] == [1]
    finally:
        for client in clients.values():
            client.close()
