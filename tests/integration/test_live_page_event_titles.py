"""The live page's words for events, over real HTTP on the gateway as ``run`` builds it.

The page titles each live event by ``/map``'s ``titles``, which held only the alerts and the
events that end one: a departure read ``presence.departed`` in the live events of a Chinese
page, as did a completed round, an unknown tag or an unknown person at the clock; and every
checkpoint scan, on time or not, read "已补巡 (checkpoint scanned late)". Each event type the
stream can carry now has a Chinese title, and a scan reads as a scan."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from gateway.rules import ATTENDANCE_EVENT_TYPES, EVENT_TYPES, PATROL_EVENT_TYPES
from tests.fixtures.built_live import BuiltLive, built_sample_site, load_built_sample_site
from tests.fixtures.live_gateway import SITE

CHINESE_TITLE = re.compile(r".*[\u4e00-\u9fff].* \([A-Za-z -]+\)")
"""Chinese first, the English term after in brackets, as the alerts' titles are."""


@pytest.fixture
def built(db_url: str) -> Iterator[BuiltLive]:
    load_built_sample_site(db_url)
    with built_sample_site(db_url) as gateway:
        yield gateway


def test_every_event_the_stream_carries_has_a_chinese_title(built: BuiltLive) -> None:
    live = built.live
    leader = live.client(live.token("leader", "jt-leader-a", sites=(SITE,), teams=("A",)))
    answer = leader.get("/map")
    assert answer.status_code == 200
    titles = answer.json()["titles"]
    carried = {*EVENT_TYPES, *PATROL_EVENT_TYPES, *ATTENDANCE_EVENT_TYPES}
    carried |= {"alert.escalated", "alert.resolved"}
    untitled = sorted(t for t in carried if not CHINESE_TITLE.fullmatch(titles.get(t, "")))
    assert untitled == []
    assert titles["presence.departed"] == "离岗 (left the post)"
    assert titles["patrol.checkpoint_scanned"] == "巡更打点 (checkpoint scanned)"
    assert titles["presence.arrived"] == "已到岗 (arrived)"
    assert titles["alert.unreported_departure"] == "未报备离岗 (unreported departure)"
