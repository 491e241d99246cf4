"""The live page of a large site in a real headless Chromium: every open alert is listed and
counted, however many. The gateway as ``run`` builds it (``build_gateway``), over real HTTP.

A control room watches a site of 60 guards. At 08:10 the shift's grace ends and none of them
is on post (the terminals were left charging in the office): 60 guards absent at shift start
and 60 terminals silent, 120 open alerts. The page asked for the 50 newest alerts of any
status: it listed 50, counted 50 open, and the other 70 could not be acknowledged from it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.bench.e2e import bench_site
from gateway.clock import ManualClock
from tests.e2e.helpers import DAY_START
from tests.e2e.test_live_page_browser import (  # noqa: F401 (the browser fixture)
    SMALL_PHONE,
    browser,
    log_in,
    pytestmark,
    wait_for,
)
from tests.fixtures.built_live import BuiltLive, built_sample_site, load_built_sample_site

GUARDS = 60


@pytest.fixture
def large_site(db_url: str, tmp_path: Path) -> Iterator[BuiltLive]:
    path = tmp_path / "large-site.json"
    path.write_text(json.dumps(bench_site(GUARDS, DAY_START)), "utf-8")
    load_built_sample_site(db_url, path)
    with built_sample_site(db_url, ManualClock(DAY_START), post="p-00000") as built:
        yield built


def test_every_open_alert_of_a_large_site_is_listed_and_counted(
    large_site: BuiltLive,
    browser: Any,  # noqa: F811
) -> None:
    live = large_site.live
    admin = live.token("admin", "control-room")
    browser.set_window_size(*SMALL_PHONE)
    log_in(browser, live.url, admin)
    wait_for(browser, "#guards li.guard", GUARDS)

    live.clock.set(DAY_START + timedelta(minutes=12))  # the rules tick on the pipeline's thread
    wait_for(browser, "#alerts li.alert[data-status='open']", 2 * GUARDS)
    opened = live.client(admin).get("/alerts", params={"status": "open", "limit": 1000}).json()
    assert len(opened) == 2 * GUARDS
    assert browser.find_element("id", "alert-count").text == str(2 * GUARDS)
    acks = browser.find_elements("css selector", "#alerts li[data-status='open'] button.ack")
    assert len(acks) == 2 * GUARDS
