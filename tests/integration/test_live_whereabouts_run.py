"""What a guard's row on the live page says, from the gateway as ``run`` builds it, over real
HTTP (``/map/whereabouts``; SQLite and PostgreSQL).

张伟 (g-001, team A) holds the north gate from 08:00. After a restart of the gateway his row
still places him at his last fix and says since when he is back, though his terminal has
gone quiet since.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.clock import ManualClock
from tests.e2e.helpers import DAY_START
from tests.fixtures.built_live import BuiltLive, built_sample_site, load_built_sample_site
from tests.fixtures.live_gateway import SITE, LiveGateway, at, wait_for


@pytest.fixture
def built(db_url: str) -> Iterator[BuiltLive]:
    load_built_sample_site(db_url)
    with built_sample_site(db_url) as gateway:
        yield gateway


def leader_a(live: LiveGateway) -> httpx.Client:
    return live.client(live.token("leader", "刘建国", sites=(SITE,), teams=("A",)))


def rows(client: httpx.Client) -> dict[str, dict[str, Any]]:
    answer = client.get("/map/whereabouts", params={"datum": "gcj02"})
    assert answer.status_code == 200
    return {guard["guard_id"]: guard for guard in answer.json()["guards"]}


def test_after_a_restart_a_silent_guard_keeps_his_last_fix_and_his_time_back(
    db_url: str,
) -> None:
    load_built_sample_site(db_url)
    clock = ManualClock(DAY_START)
    with built_sample_site(db_url, clock) as first:
        token = first.live.token("leader", "刘建国", sites=(SITE,), teams=("A",))
        first.live.walk("gps-001", 1, 5, inside=True)
        first.live.walk("gps-001", 5, 8, inside=False)
        first.live.walk("gps-001", 8, 12, inside=True)  # back at 08:08, last heard 08:11:30
        before = rows(first.live.client(token))["g-001"]
    assert before["standing"] == "on_post"
    assert before["since"] == at(8).isoformat()
    assert before["last_fix"]["fix_time"] == at(11.5).isoformat()

    clock.set(at(25))  # the gateway is back at 08:25; his terminal stays quiet
    with built_sample_site(db_url, clock) as second:
        client = second.live.client(token)
        # The silence due meanwhile waits out the restart's grace for the broker's backlog.
        clock.set(at(26))
        wait_for(lambda: rows(client)["g-001"]["silent"], lambda: rows(client)["g-001"], 10)
        after = rows(client)
    g001 = after["g-001"]
    assert (g001["state"], g001["standing"], g001["silent"]) == ("on_post", "on_post", True)
    assert g001["since"] == at(8).isoformat()
    assert g001["last_fix"] == before["last_fix"]
    assert g001["last_fix"]["membership"] == "inside"
    # His colleagues were never heard: nothing to place them at.
    assert [after[g]["last_fix"] for g in ("g-002", "g-003", "g-004", "g-005")] == [None] * 4
