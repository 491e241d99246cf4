"""The live page as a control-room operator uses it through a day, in Chromium on a phone, the
gateway as ``run`` builds it.

* A page left open across midnight: the track date was filled in once, at login, so the next
  morning the 轨迹 button still opened yesterday's track. It now follows the site's day, unless
  the leader picked a date himself.
* Acknowledging from the keyboard: the alert's row is rebuilt with its new status, and the focus
  fell back to the top of the page; it now stays in the row, on the button left (解除 resolve).
* The map on a phone: drawn in an 800-unit view shrunk to the phone's 320 px, its post labels
  were 7 px high and a guard's marker a 7 px dot. The view now has the map's own size on the
  screen, so labels and markers read at the style sheet's sizes there as on a desktop.
* An acknowledgement that failed (the phone out of reach): the button stayed disabled, and the
  leader could not press it again once back in reach. It now works again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.test_live_page_browser import (  # noqa: F401 (the browser fixture)
    SMALL_PHONE,
    WAIT_S,
    browser,
    click,
    log_in,
    pytestmark,
    text_of,
    wait_for,
)
from tests.fixtures.built_live import BuiltLive, built_sample_site, load_built_sample_site
from tests.fixtures.live_gateway import SITE

DAY = 24 * 60
"""Minutes in a day: ``walk`` counts from 08:00 on 2 March 2026 in Wuhan."""


@pytest.fixture
def built(db_url: str) -> Iterator[BuiltLive]:
    load_built_sample_site(db_url)
    with built_sample_site(db_url) as gateway:
        yield gateway


def track_info(driver: Any) -> str:
    """What the page says of 张伟's track opened with his 轨迹 button (a track shown is cleared
    first, with the page's button, so the answer is the new one's)."""
    if driver.find_element(By.ID, "track-clear").is_displayed():
        click(driver, "#track-clear")
    click(driver, "#guards li[data-guard-id='g-001'] button.track-button")
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "track-info").text)
    return str(driver.find_element(By.ID, "track-info").text)


def test_a_page_left_open_overnight_opens_the_new_days_track(
    built: BuiltLive,
    browser: Any,  # noqa: F811
) -> None:
    live = built.live
    token = live.token("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
    browser.set_window_size(*SMALL_PHONE)
    live.walk("gps-001", 1, 5, inside=True)  # 张伟 on post, 2 March
    log_in(browser, live.url, token)
    wait_for(browser, "#guards li[data-guard-id='g-001'][data-standing='on_post']")
    assert browser.find_element(By.ID, "track-date").get_attribute("value") == "2026-03-02"

    # The page stays open through the night; at 08:01 on 3 March 张伟 is back on post.
    live.walk("gps-001", DAY + 1, DAY + 4, inside=True)
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_element(By.ID, "clock").text.startswith("03/03")
    )
    assert browser.find_element(By.ID, "track-date").get_attribute("value") == "2026-03-03"
    assert track_info(browser) == "张伟 2026-03-03: 6 点 fixes"

    # A date he picks himself is his: the next refresh leaves it.
    browser.execute_script("document.getElementById('track-date').value = '2026-03-02'")
    live.walk("gps-001", DAY + 4, DAY + 6, inside=True)
    browser.execute_script("refresh()")
    assert track_info(browser).startswith("张伟 2026-03-02: ")
    assert browser.find_element(By.ID, "track-date").get_attribute("value") == "2026-03-02"


def test_an_alert_acknowledged_from_the_keyboard_keeps_the_focus_in_its_row(
    built: BuiltLive,
    browser: Any,  # noqa: F811
) -> None:
    live = built.live
    token = live.token("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
    browser.set_window_size(*SMALL_PHONE)
    live.walk("gps-001", 1, 5, inside=True)
    log_in(browser, live.url, token)
    live.walk("gps-001", 5, 8, inside=False)  # out, unreported
    departure = "#alerts li[data-type='alert.unreported_departure']"
    ack = wait_for(browser, f"{departure}[data-status='open'] button.ack")[0]
    browser.execute_script("arguments[0].focus()", ack)
    browser.switch_to.active_element.send_keys(Keys.ENTER)

    wait_for(browser, f"{departure}[data-status='acknowledged']")
    assert "jt-leader-a 确认于 08:07" in text_of(browser, f"{departure} .meta")
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script(
            "return document.activeElement.matches(arguments[0])", f"{departure} button.resolve"
        ),
        "the focus is on the row's resolve button",
    )
    # Still from the keyboard: Enter on it asks for the note.
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    WebDriverWait(browser, WAIT_S).until(lambda d: d.switch_to.alert)
    browser.switch_to.alert.dismiss()
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


LABEL_HEIGHT = (
    "return document.querySelector('#map text.post-label').getBoundingClientRect().height"
)


def test_the_map_on_a_phone_reads_at_the_pages_own_type_size(
    built: BuiltLive,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    live = built.live
    token = live.token("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
    browser.set_window_size(390, 844)
    live.walk("gps-001", 1, 5, inside=True)
    log_in(browser, live.url, token)
    wait_for(browser, "#map g.guard[data-guard-id='g-001']")
    assert browser.save_screenshot(str(tmp_path / "live-page-map-phone.png"))
    label_px, name_px, marker_px = browser.execute_script(
        "const h = (css) => document.querySelector(css).getBoundingClientRect().height;"
        "return [h('#map text.post-label'), h('#map g.guard text'), h('#map g.guard circle')];"
    )
    # The sheet's 15 px labels and 17 px names, a marker a finger can find: not a third of it.
    assert label_px >= 14 and name_px >= 16 and marker_px >= 16, (label_px, name_px, marker_px)
    browser.set_window_size(1280, 900)  # the same sizes on the control room's screen
    WebDriverWait(browser, WAIT_S).until(
        lambda d: 14 <= d.execute_script(LABEL_HEIGHT) < 20, "labels drawn again at 15 px"
    )
    assert browser.save_screenshot(str(tmp_path / "live-page-map-desktop.png"))


def test_an_acknowledgement_that_failed_can_be_tried_again(
    built: BuiltLive,
    browser: Any,  # noqa: F811
) -> None:
    live = built.live
    token = live.token("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
    browser.set_window_size(*SMALL_PHONE)
    live.walk("gps-001", 1, 5, inside=True)
    log_in(browser, live.url, token)
    live.walk("gps-001", 5, 8, inside=False)
    ack = "#alerts li[data-type='alert.unreported_departure'][data-status='open'] button.ack"
    wait_for(browser, ack)
    # The phone loses its network as he presses 确认 (a lift, a dead spot in the basement).
    browser.execute_cdp_cmd("Network.enable", {})
    offline = {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0}
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
    click(browser, ack)
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_element(By.ID, "action-error").text)
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {**offline, "offline": False})
    # Back in reach, he presses it again, and it goes through.
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ack).is_enabled(), "the button works again"
    )
    click(browser, ack)
    wait_for(
        browser, "#alerts li[data-type='alert.unreported_departure'][data-status='acknowledged']"
    )
