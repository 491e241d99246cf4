"""The live page in Chromium on a phone (the gateway as ``run`` builds it): 张伟 (g-001) went
out at 08:05 with a verbal report and is still out at 08:20, past the 15 minutes it covers.
His row read only "已报备离岗 away, reported", though the 离岗超时 alert was listed: the row now
says "超时 overtime" beside it, and his marker on the map is ringed for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_live_page_browser import (  # noqa: F401 (the browser fixture)
    SMALL_PHONE,
    browser,
    log_in,
    pytestmark,
    text_of,
    wait_for,
)
from tests.fixtures.built_live import BuiltLive, built_sample_site, load_built_sample_site
from tests.fixtures.live_gateway import SITE, at


@pytest.fixture
def built(db_url: str) -> Iterator[BuiltLive]:
    load_built_sample_site(db_url)
    with built_sample_site(db_url) as gateway:
        yield gateway


def test_a_guard_away_past_his_verbal_reports_15_minutes_reads_overtime(
    built: BuiltLive,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    live = built.live
    token = live.token("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
    live.walk("gps-001", 1, 5, inside=True)
    report = live.client(token).post(
        "/reports", json={"guard_id": "g-001", "reported_at": at(4).isoformat()}
    )
    assert report.status_code == 201
    browser.set_window_size(*SMALL_PHONE)
    log_in(browser, live.url, token)
    row = "#guards li[data-guard-id='g-001']"
    wait_for(browser, f"{row}[data-standing='on_post']")

    live.walk("gps-001", 5, 19, inside=False)
    wait_for(browser, f"{row}[data-standing='away_reported']")
    assert browser.find_elements("css selector", f"{row} .over-badge") == []

    live.walk("gps-001", 19, 21, inside=False)  # 15 minutes fell at 08:20
    wait_for(browser, f"{row}[data-standing='away_reported'][data-over-limit='overtime']")
    assert text_of(browser, f"{row} .over-badge") == "超时 overtime"
    assert "已报备离岗" in text_of(browser, f"{row} .badge")
    wait_for(browser, "#map g.guard[data-guard-id='g-001'][data-over-limit='overtime']")
    wait_for(browser, "#alerts li[data-type='alert.overtime_departure'][data-status='open']")
    assert browser.save_screenshot(str(tmp_path / "live-page-overtime.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
