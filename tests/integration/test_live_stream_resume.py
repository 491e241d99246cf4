"""A leader's page comes back after its stream was cut: it names the last event it received
(``Last-Event-ID``) and gets what it missed, each event once, within its scope. The gateway as
``run`` builds it, over real HTTP; SQLite and PostgreSQL.

刘建国 (team A) watches the north gate on his phone. At 08:05 his phone loses the network in a
lift (or, in the second test, the gateway restarts for an upgrade and works through the broker's
backlog before his page is back); meanwhile 张伟 walks off his post unreported. The stream he
reopened carried only what happened after it reopened: the departure was never in his page's
live events. Now the stream begins with the events after the one he names.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator

import pytest

from gateway.clock import ManualClock
from tests.e2e.helpers import DAY_START
from tests.fixtures.built_live import BuiltLive, built_sample_site, load_built_sample_site
from tests.fixtures.live_gateway import SITE, LiveGateway
from tests.integration.test_live_page_api import StreamReader

DEPARTURE = ["presence.departed", "alert.unreported_departure"]


@pytest.fixture
def built(db_url: str) -> Iterator[BuiltLive]:
    load_built_sample_site(db_url)
    with built_sample_site(db_url) as gateway:
        yield gateway


def until_quiet(stream: StreamReader, quiet_s: float) -> list[dict[str, str]]:
    """The event blocks the stream carried until ``quiet_s`` passed without one."""
    blocks: list[dict[str, str]] = []
    try:
        while True:
            blocks.append(stream.next(timeout=quiet_s))
    except queue.Empty:
        return blocks


def said(blocks: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(type, guard) of each event block."""
    return [(b["event"], json.loads(b["data"])["subject"]) for b in blocks]


def arrival_seen(live: LiveGateway, token: str) -> tuple[str, str]:
    """张伟 arrives with 刘建国's page open: the ids of the stream's ``hello`` and of the
    arrival, the last event the page saw."""
    stream = StreamReader(live.url, token)
    try:
        hello = stream.next()
        assert hello["event"] == "hello"
        live.walk("gps-001", 1, 5, inside=True)
        [arrival] = until_quiet(stream, 2)
        assert arrival["event"] == "presence.arrived"
        return hello["id"], arrival["id"]
    finally:
        stream.close()


def test_a_stream_reopened_with_last_event_id_begins_with_what_was_missed_once(
    built: BuiltLive,
) -> None:
    live = built.live
    token = live.token("leader", "刘建国", sites=(SITE,), teams=("A",))
    hello, last = arrival_seen(live, token)
    assert hello == "-"  # nothing happened yet: resuming from it gives everything
    live.walk("gps-001", 5, 8, inside=False)  # his phone is in the lift

    # A page cut before its first event resumes from its hello.
    early = StreamReader(live.url, token, last_event_id=hello)
    assert [b["event"] for b in until_quiet(early, 2)] == ["hello", "presence.arrived", *DEPARTURE]
    early.close()
    back = StreamReader(live.url, token, last_event_id=last)
    team_b = StreamReader(
        live.url, live.token("leader", "陈志强", sites=(SITE,), teams=("B",)), last_event_id=last
    )
    lost = StreamReader(live.url, token, last_event_id="0f0e0d0c-purged-long-ago")
    try:
        resumed = until_quiet(back, 2)
        assert [b["event"] for b in resumed] == ["hello", *DEPARTURE]
        assert all('"subject":"g-001"' in b["data"] for b in resumed[1:])
        assert [b["event"] for b in until_quiet(team_b, 0.5)] == ["hello"]
        assert [b["event"] for b in until_quiet(lost, 0.5)] == ["hello", "resync"]

        live.walk("gps-001", 8, 12, inside=True)  # back on post, the streams still open
        returned = until_quiet(back, 2)
        # At 08:10 the shift's grace ends for his four colleagues, who never came.
        absent = [
            (kind, guard)
            for guard in ("g-002", "g-003", "g-004", "g-005")
            for kind in ("alert.absent_at_shift_start", "alert.device_silent")
        ]
        assert said(returned) == [("presence.returned", "g-001"), *absent]
        assert said(until_quiet(lost, 0.5)) == [("presence.returned", "g-001"), *absent]
        ids = [b["id"] for b in resumed[1:] + returned]
        assert len(set(ids)) == len(ids) == 11 and last not in ids
        assert until_quiet(team_b, 0.5) == []
    finally:
        back.close()
        team_b.close()
        lost.close()


def test_a_page_back_after_a_restart_gets_the_departure_the_new_process_found_first(
    db_url: str,
) -> None:
    load_built_sample_site(db_url)
    clock = ManualClock(DAY_START)
    with built_sample_site(db_url, clock) as first:
        token = first.live.token("leader", "刘建国", sites=(SITE,), teams=("A",))
        _hello, last = arrival_seen(first.live, token)
        port = first.port

    def backlog(live: LiveGateway) -> None:
        live.walk("gps-001", 5, 8, inside=False)

    with built_sample_site(db_url, clock, port=port, before_serving=backlog) as second:
        back = StreamReader(second.live.url, token, last_event_id=last)
        try:
            assert [b["event"] for b in until_quiet(back, 2)] == ["hello", *DEPARTURE]
        finally:
            back.close()
