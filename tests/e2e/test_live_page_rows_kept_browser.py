"""The live page in Chromium keeps its rows while the site moves (the gateway as ``run`` builds
it, over real HTTP).

A control room watches the sample site at 08:12: 张伟 (g-001) on post, the rest of team A
absent at shift start, their alerts open. The operator reaches for another guard's 轨迹 track
button and an alert's 确认 acknowledge button while 张伟 walks out. Each refresh built the
lists anew: with a site this busy some row had always changed, so the buttons under his finger
were replaced (the tap fell on a node no longer in the page) and he had to find them again.
Rows are now kept per guard and per alert and changed in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.test_live_page_browser import (  # noqa: F401 (the browser fixture)
    SMALL_PHONE,
    browser,
    log_in,
    pytestmark,
    wait_for,
)
from tests.fixtures.built_live import BuiltLive, built_sample_site, load_built_sample_site
from tests.fixtures.live_gateway import at

KEEP = """
const other = [...document.querySelectorAll('#guards li.guard')]
  .find((li) => li.dataset.guardId !== 'g-001');
const open = document.querySelector("#alerts li[data-status='open']");
window.kept = {
  otherRow: other,
  otherTrack: other.querySelector('button.track-button'),
  ownTrack: document.querySelector("#guards li[data-guard-id='g-001'] button.track-button"),
  alertRow: open,
  ack: open.querySelector('button.ack'),
};
return [other.dataset.guardId, Number(open.dataset.alertId)];
"""

STILL_THERE = """
const k = window.kept;
return {
  otherRow: k.otherRow.isConnected,
  otherTrack: k.otherTrack.isConnected,
  ownTrack: k.ownTrack.isConnected,
  alertRow: k.alertRow.isConnected,
  ack: k.ack.isConnected,
};
"""


@pytest.fixture
def built(db_url: str) -> Iterator[BuiltLive]:
    load_built_sample_site(db_url)
    with built_sample_site(db_url) as gateway:
        yield gateway


def test_rows_and_their_buttons_stay_in_the_page_while_other_guards_change(
    built: BuiltLive,
    browser: Any,  # noqa: F811
) -> None:
    live = built.live
    admin = live.token("admin", "control-room")
    live.walk("gps-001", 1, 12, inside=True)
    live.clock.set(at(12) + timedelta(seconds=2))  # the shift's grace ended at 08:10
    browser.set_window_size(*SMALL_PHONE)
    log_in(browser, live.url, admin, by="jt-leader-a")
    wait_for(browser, "#guards li[data-guard-id='g-001'][data-standing='on_post']")
    assert browser.find_elements("css selector", "#alerts li[data-status='open'] button.ack")
    other_guard, kept_alert = browser.execute_script(KEEP)
    other_meta = browser.execute_script("return window.kept.otherRow.textContent")
    alerts_before = len(browser.find_elements("css selector", "#alerts li.alert"))

    live.walk("gps-001", 12.5, 16, inside=False)  # out at 08:12:30: seen gone a minute later
    wait_for(browser, "#guards li[data-guard-id='g-001'][data-standing='away_unreported']")
    wait_for(browser, "#alerts li[data-type='alert.unreported_departure'][data-status='open']")
    assert len(browser.find_elements("css selector", "#alerts li.alert")) == alerts_before + 1

    assert browser.execute_script(STILL_THERE) == {
        "otherRow": True,
        "otherTrack": True,
        "ownTrack": True,  # his own row changed in place, its button with it
        "alertRow": True,
        "ack": True,
    }
    row = f"#guards li[data-guard-id='{other_guard}']"
    same_row = f"return document.querySelector({row!r}) === window.kept.otherRow"
    assert browser.execute_script(same_row)
    assert browser.execute_script("return window.kept.otherRow.textContent") == other_meta

    # The button the operator had reached for still works.
    browser.execute_script("return window.kept.ack").click()
    wait_for(browser, f"#alerts li[data-alert-id='{kept_alert}'][data-status='acknowledged']")
    listed = live.client(admin).get("/alerts", params={"limit": 1000}).json()
    acked = [(a["status"], a["acknowledged_by"]) for a in listed if a["id"] == kept_alert]
    assert acked == [("acknowledged", "jt-leader-a")]
