"""A long alert list on a phone, in Chromium, the gateway as ``run`` builds it: 100 guards
absent at shift start with their terminals silent, 200 open alerts.

The page listed every open alert, then the 50 most recent alerts of any status that were not
open. An alert acknowledged from the list left the open part, and one older than the 50 most
recent alerts left the page altogether: the leader who pressed 确认 saw the row vanish, could
not check that it was recorded in his name, nor resolve it by hand later. Every alert not yet
resolved (open or acknowledged) is now listed, the open ones first."""

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
    click,
    log_in,
    pytestmark,
    text_of,
    wait_for,
)
from tests.fixtures.built_live import BuiltLive, built_sample_site, load_built_sample_site

GUARDS = 100


@pytest.fixture
def large_site(db_url: str, tmp_path: Path) -> Iterator[BuiltLive]:
    site = bench_site(GUARDS, DAY_START)
    site["sites"][0].update(
        timezone="Asia/Shanghai",
        leaders=[{"id": "bench-leader", "name": "刘建国", "team": "bench"}],
    )
    path = tmp_path / "large-site.json"
    path.write_text(json.dumps(site), "utf-8")
    load_built_sample_site(db_url, path)
    with built_sample_site(db_url, ManualClock(DAY_START), post="p-00000") as built:
        yield built


def test_an_old_alert_acknowledged_in_a_long_list_stays_listed_as_acknowledged(
    large_site: BuiltLive,
    browser: Any,  # noqa: F811
) -> None:
    live = large_site.live
    token = live.token("leader", "bench-leader", sites=("bench",), teams=("bench",))
    browser.set_window_size(*SMALL_PHONE)
    log_in(browser, live.url, token)
    live.clock.set(DAY_START + timedelta(minutes=12))  # the grace ended: nobody on post
    rows = wait_for(browser, "#alerts li.alert[data-status='open']", 2 * GUARDS)
    oldest = rows[-1].get_attribute("data-alert-id")
    assert browser.find_element("id", "alert-count").text == str(2 * GUARDS)

    click(browser, f"#alerts li[data-alert-id='{oldest}'] button.ack")
    row = f"#alerts li[data-alert-id='{oldest}'][data-status='acknowledged']"
    wait_for(browser, row)
    assert "bench-leader 确认于 08:12" in text_of(browser, f"{row} .meta")
    assert browser.find_element("id", "alert-count").text == str(2 * GUARDS - 1)
    wait_for(browser, f"{row} button.resolve")
    wait_for(browser, "#alerts li.alert", 2 * GUARDS)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
