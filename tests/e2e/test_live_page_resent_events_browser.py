"""The live page in Chromium lists an event once when a resumed stream sends it again.

In a partitioned gateway a stream resumed after a cut begins at a floor below the last event
the page received (``gateway.web.resume``), so it may send again events the page had: after a
busy minute (a shift change's 120 alerts), more than the 100 rows the list shows. The page
checked only the rows shown, and listed such an event a second time, on top, as if new. Now it
remembers the last 1024 event ids it listed.

The page logs in to the gateway as ``run`` builds it (one process, over real HTTP); the resumed
stream's bytes are handed to the page's own stream reader (``readStream``), as ``fetch`` gives
them: one process never resends, and the server side of a resume is tested on PostgreSQL
(``tests/integration/test_cluster_live_resume.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_live_page_browser import (  # noqa: F401 (the browser fixture)
    SMALL_PHONE,
    browser,
    log_in,
    pytestmark,
)
from tests.fixtures.built_live import BuiltLive, built_sample_site, load_built_sample_site
from tests.fixtures.live_gateway import SITE

BUSY = 120
"""Events the page received before the cut: more than the 100 rows the list shows."""

READ = """
const [text, done] = [arguments[0], arguments[arguments.length - 1]];
readStream(new Response(text).body).then(() => done(
  [...document.querySelectorAll('#events li')].map((li) => li.dataset.eventId)));
"""


def block(n: int, floor: int) -> str:
    event_id = f"00000000-0000-4000-8000-{n:012d}"
    message = {
        "id": event_id,
        "type": "alert.absent_at_shift_start",
        "subject": "g-002",
        "time": "2026-03-02T00:10:00+00:00",
        "data": {},
    }
    return f"id: {event_id}@{floor}\nevent: {message['type']}\ndata: {json.dumps(message)}\n\n"


@pytest.fixture
def built(db_url: str) -> Iterator[BuiltLive]:
    load_built_sample_site(db_url)
    with built_sample_site(db_url) as gateway:
        yield gateway


def test_events_a_resumed_stream_sends_again_are_not_listed_twice(
    built: BuiltLive,
    browser: Any,  # noqa: F811
) -> None:
    live = built.live
    browser.set_window_size(*SMALL_PHONE)
    log_in(browser, live.url, live.token("leader", "刘建国", sites=(SITE,)))
    before_cut = "".join(block(n, floor=n) for n in range(BUSY))
    shown = browser.execute_async_script(READ, before_cut)
    assert len(shown) == 100 and shown[0].endswith(f"{BUSY - 1:012d}")

    # Back after the cut: from a floor far below the last event, every one of them again but
    # the last (named in Last-Event-ID), then one it never had.
    resumed = "".join(block(n, floor=0) for n in range(BUSY - 1)) + block(BUSY, floor=BUSY - 1)
    again = browser.execute_async_script(READ, "retry: 3000\nevent: hello\ndata: {}\n\n" + resumed)
    assert again == [f"00000000-0000-4000-8000-{BUSY:012d}", *shown[:99]]
