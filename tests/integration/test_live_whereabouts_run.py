"""What a guard's row on the live page says, from the gateway as ``run`` builds it, over real
HTTP (``/map/whereabouts``; SQLite and PostgreSQL).

张伟 (g-001, team A) holds the north gate from 08:00. After a restart of the gateway his row
still places him at his last fix and says since when he is back, though his terminal has
gone quiet since; and while he is away past a limit (15 minutes on a verbal report, the end of
his leave) the row says so, as the alert does.
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


def test_a_reported_departure_past_15_minutes_reads_overtime(built: BuiltLive) -> None:
    live = built.live
    client = leader_a(live)
    live.walk("gps-001", 1, 5, inside=True)
    report = client.post("/reports", json={"guard_id": "g-001", "reported_at": at(4).isoformat()})
    assert report.status_code == 201
    live.walk("gps-001", 5, 19, inside=False)  # out at 08:05 with his verbal report
    g001 = rows(client)["g-001"]
    assert (g001["standing"], g001["over_limit"]) == ("away_reported", None)

    live.walk("gps-001", 19, 21, inside=False)  # 15 minutes fell at 08:20
    g001 = rows(client)["g-001"]
    assert (g001["standing"], g001["over_limit"]) == ("away_reported", "overtime")
    assert g001["since"] == at(5).isoformat()
    overtime = [a for a in client.get("/alerts").json() if a["type"] == "alert.overtime_departure"]
    assert [(a["guard_id"], a["status"]) for a in overtime] == [("g-001", "open")]

    live.walk("gps-001", 21, 23, inside=True)  # back at 08:21
    g001 = rows(client)["g-001"]
    assert (g001["standing"], g001["over_limit"]) == ("on_post", None)


def test_a_leave_overrun_reads_over_leave(built: BuiltLive) -> None:
    live = built.live
    client = leader_a(live)
    live.walk("gps-001", 1, 4, inside=True)
    leave = client.post(
        "/leaves",
        json={
            "guard_id": "g-001",
            "starts_at": at(4).isoformat(),
            "ends_at": at(10).isoformat(),
            "approved_by": "jt-leader-a",
        },
    )
    assert leave.status_code == 201
    live.walk("gps-001", 4, 10, inside=False)  # out at 08:04 on leave until 08:10
    g001 = rows(client)["g-001"]
    assert (g001["standing"], g001["over_limit"]) == ("on_leave", None)

    live.walk("gps-001", 10, 12, inside=False)  # still out at 08:11:30
    g001 = rows(client)["g-001"]
    assert (g001["standing"], g001["over_limit"]) == ("on_leave", "leave_overrun")
    overrun = [a for a in client.get("/alerts").json() if a["type"] == "alert.leave_overrun"]
    assert [(a["guard_id"], a["status"]) for a in overrun] == [("g-001", "open")]
