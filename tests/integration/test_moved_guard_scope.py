"""The leaders who list, act on and watch a shift's alerts after a load moves its guard to
another site or team, or takes him out of the file: that shift's, over real HTTP, on SQLite
and PostgreSQL.

张伟 (g-001, team A of 江滩花园) keeps the north gate 08:00-20:00; on a leave 09:00-10:10,
he is back at 10:00 and never cancels it (销假). At 10:30 a load moves him, from tomorrow, to
the other compound (wh-other, team C) or to team B of his own, or takes him out of the file:
his shift at the north gate ends there. His *leave not cancelled* at 11:00 (escalated at
11:10) is that shift's, as its groups hear it (``test_moved_guard_robots``): team A's leader
lists it, acknowledges and resolves it, sees it on his live page and when his page resumes;
his new team's leader does not. Tomorrow's shift, his new row's, is his new team's: its
*absent at shift start* goes to its leader alone.
Before, the API and the live page read his row as the load rewrote it: his old team's
leader lost the alert (404 on acknowledging it), his new one saw and closed it, and a guard
taken out of the file was no leader's at all.

The gateway as ``run`` builds it, its API served on a real HTTP port.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.bootstrap import ApiServer
from gateway.clock import ManualClock
from gateway.db.models import AlertRow
from gateway.lifecycle import Gateway
from gateway.site.loader import load_site_file
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.robot_gateway import fixes_a_minute, leave_not_cancelled, robots_gateway
from tests.integration.test_live_page_api import StreamReader
from tests.integration.test_live_stream_team_move import events_until_quiet
from tests.integration.test_moved_guard_robots import SECRETS, _file
from tests.integration.test_site_load_mid_shift import SITE, at

ROBOTS_URL = "http://127.0.0.1:9/robot"
"""Where the file's robots post: never reached, none is started here."""

# Each leader's token: the team his guard left or was taken from, the ones he was moved to.
LEADERS: dict[str, dict[str, tuple[str, ...]]] = {
    "A": {"sites": (SITE,), "teams": ("A",)},
    "B": {"sites": (SITE,), "teams": ("B",)},
    "C": {"sites": ("wh-other",), "teams": ("C",)},
}
NEW_TEAM = {"site": "C", "team": "B", "removed": None}
TOMORROW_08_20 = 24 * 60 + 20
"""Minutes from today's 08:00 to 08:20 tomorrow: past his new shift's start and grace."""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(-60))


@pytest.fixture
def served(db_url: str, clock: ManualClock, tmp_path: Path) -> Iterator[tuple[Gateway, str]]:
    site = _file(tmp_path / "before", ROBOTS_URL, None)
    with robots_gateway(db_url, site, clock, SECRETS) as built:
        server = ApiServer(built.app)
        try:
            yield built, server.start()
        finally:
            server.stop()


def _moved_file(folder: Path, move: str) -> Path:
    """The file of ``test_moved_guard_robots`` for ``site`` and ``team``; ``removed``: as
    ``site`` but wh-other has him neither, so the file no longer names him."""
    path = _file(folder, ROBOTS_URL, "site" if move == "removed" else move)
    if move == "removed":
        doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
        other = doc["sites"][1]
        other["guards"], other["devices"], other["shifts"] = [], [], []
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _alerts(client: httpx.Client) -> list[tuple[str, str]]:
    answer = client.get("/alerts")
    assert answer.status_code == 200, answer.text
    return [(a["type"], a["status"]) for a in answer.json()]


def _types(stream: StreamReader, quiet_s: float) -> list[str]:
    return [kind for kind, subject in events_until_quiet(stream, quiet_s) if subject == '"g-001"']


@pytest.mark.parametrize("move", ["site", "team", "removed"])
def test_a_moved_guards_ended_shift_alerts_stay_with_its_team_his_new_shifts_go_to_his_new_one(
    served: tuple[Gateway, str], clock: ManualClock, tmp_path: Path, move: str
) -> None:
    gateway, url = served
    tokens = {
        name: new_token(gateway.engine, "leader", name=name, **s) for name, s in LEADERS.items()
    }
    clients = {
        name: httpx.Client(base_url=url, timeout=10, headers=bearer(t))
        for name, t in tokens.items()
    }
    streams = {name: StreamReader(url, token) for name, token in tokens.items()}
    try:
        hello = {name: stream.next() for name, stream in streams.items()}
        assert {h["event"] for h in hello.values()} == {"hello"}
        leave_not_cancelled(gateway, clock)
        load_site_file(
            _moved_file(tmp_path / "moved", move), gateway.engine, clock.now(), set(SECRETS)
        )
        read = gateway.processor.read_roster()
        assert read is not None and gateway.processor.adopt_roster(read)
        fixes_a_minute(gateway, clock, 150, 195, None)
        clock.set(at(TOMORROW_08_20))
        gateway.processor.tick()

        new_team = NEW_TEAM[move]
        old_shift = ["alert.leave_not_cancelled", "alert.escalated"]
        # His new shift: not there, his terminal silent; at wh-other both are escalated to
        # the manager above team C's leader (team B's names nobody above him).
        new_shift = ["alert.absent_at_shift_start", "alert.device_silent"]
        if new_team == "C":
            new_shift += ["alert.escalated", "alert.escalated"]
        new_open = [("alert.absent_at_shift_start", "open"), ("alert.device_silent", "open")]
        seen = {name: _types(stream, 2 if name == "A" else 0.5) for name, stream in streams.items()}
        assert {
            name: [t for t in types if t.startswith("alert.")] for name, types in seen.items()
        } == {
            "A": old_shift,
            "B": new_shift if new_team == "B" else [],
            "C": new_shift if new_team == "C" else [],
        }
        listed = {name: sorted(_alerts(client)) for name, client in clients.items()}
        assert listed == {
            "A": [("alert.leave_not_cancelled", "open")],
            "B": new_open if new_team == "B" else [],
            "C": new_open if new_team == "C" else [],
        }
        # A page resumed from its first hello reads back what its stream carried.
        for name, stream in streams.items():
            stream.close()
            resumed = StreamReader(url, tokens[name], last_event_id=hello[name]["id"])
            streams[name] = resumed
            assert resumed.next()["event"] == "hello"
            assert _types(resumed, 2 if name == "A" else 0.5) == seen[name]

        # Acting on it: the new team's leader is told it is unknown, the old one's acts.
        gateway.runtime.start()
        key = _alert_key(gateway, "alert.leave_not_cancelled")
        if new_team is not None:
            other = clients[new_team].post(f"/alerts/{key}/acknowledge", json={"by": "x"})
            assert other.status_code == 404, other.text
            other = clients[new_team].post(f"/alerts/{key}/resolve", json={"note": "不是我的"})
            assert other.status_code == 404, other.text
        own = clients["A"].post(f"/alerts/{key}/acknowledge", json={"by": "jt-leader-q"})
        assert own.status_code == 200, own.text
        own = clients["A"].post(f"/alerts/{key}/resolve", json={"note": "已销假"})
        assert own.status_code == 200, own.text
        assert _alerts(clients["A"]) == [("alert.leave_not_cancelled", "resolved")]
    finally:
        for stream in streams.values():
            stream.close()
        for client in clients.values():
            client.close()


def _alert_key(gateway: Gateway, type: str) -> str:
    with Session(gateway.engine) as session:
        [key] = session.scalars(select(AlertRow.alert_key).where(AlertRow.type == type))
        return key
