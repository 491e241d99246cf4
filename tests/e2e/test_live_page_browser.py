"""The live page in a real headless Chromium (Debian's ``chromium`` and ``chromedriver``, driven
by Selenium): a team leader logs in with his token, sees his guards on the map, sees a
departure and its alert appear while the page is open (through the event stream, no reload),
acknowledges the alert with the button, and the API shows it acknowledged by him and audited.

Screenshots are kept in the test's tmp dir and, when ``GATEWAY_TEST_ARTIFACTS`` names a
directory, copied there. Skips when no Chromium or chromedriver is installed (``.ci/run``
installs them)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.web.geometry import TileLayer
from geofence.datum import Datum
from tests.e2e.helpers import DAY_START
from tests.fixtures.built_live import built_sample_site, load_built_sample_site
from tests.fixtures.live_gateway import SITE, LiveGateway, served_sample_site

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no Chromium/chromedriver installed (apt-get install chromium chromium-driver)",
)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PHONE = (412, 915)
"""A common Android phone's viewport in CSS pixels: the page must be usable there."""
SMALL_PHONE = (360, 740)
"""The smallest phone viewport still common among guards' and leaders' phones."""
DESKTOP = (1280, 900)
WAIT_S = 15


@pytest.fixture
def live(engine: Engine) -> Iterator[LiveGateway]:
    with served_sample_site(engine) as gateway:
        yield gateway


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={PHONE[0]},{PHONE[1]}")
    options.add_argument("--lang=zh-CN")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Both paths given: Selenium Manager has nothing to look up or download.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


class Shots:
    """Screenshots in the test's tmp dir, copied to ``GATEWAY_TEST_ARTIFACTS`` when set."""

    def __init__(self, driver: Any, directory: Path) -> None:
        self.driver = driver
        self.directory = directory
        self.taken: list[Path] = []

    def take(self, name: str) -> None:
        path = self.directory / f"live-page-{len(self.taken) + 1}-{name}.png"
        assert self.driver.save_screenshot(str(path))
        assert path.stat().st_size > 10_000  # a drawn page, not a blank one
        self.taken.append(path)

    def keep(self) -> None:
        target = os.environ.get("GATEWAY_TEST_ARTIFACTS")
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            for path in self.taken:
                shutil.copy2(path, Path(target) / path.name)


def wait_for(driver: Any, css: str, count: int = 1) -> list[Any]:
    """The elements matching ``css`` once there are exactly ``count`` of them."""
    found: list[Any] = []

    def ready(d: Any) -> bool:
        found[:] = d.find_elements(By.CSS_SELECTOR, css)
        return len(found) == count

    WebDriverWait(driver, WAIT_S).until(ready, f"{count} × {css}")
    return found


def click(driver: Any, css: str) -> None:
    """Click the element matching ``css``, found afresh should a redraw replace it."""

    def clicked(d: Any) -> bool:
        d.find_element(By.CSS_SELECTOR, css).click()
        return True

    WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,)).until(
        clicked, f"click {css}"
    )


def text_of(driver: Any, css: str) -> str:
    text: str = driver.execute_script(f"return document.querySelector({css!r}).textContent")
    return text


def test_a_leader_sees_a_departure_live_and_acknowledges_its_alert(
    live: LiveGateway, browser: Any, tmp_path: Path
) -> None:
    shots = Shots(browser, tmp_path)
    token = live.token("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
    admin = live.client(live.token("admin", "ops"))
    live.walk("gps-001", 1, 5, inside=True)  # 张伟 arrives at the north gate

    browser.get(f"{live.url}/live")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "by").send_keys("jt-leader-a")
    browser.find_element(By.ID, "login-button").click()

    wait_for(browser, "#connection[data-state='live']")
    wait_for(browser, "#guards li.guard", 5)  # team A's five, none of team B's
    wait_for(browser, "#guards li[data-guard-id='g-001'][data-standing='on_post']")
    wait_for(browser, "#map path.post", 6)
    wait_for(browser, "#map g.guard[data-guard-id='g-001'][data-standing='on_post']")
    assert browser.find_elements(By.CSS_SELECTOR, "#alerts li.alert") == []
    shots.take("on-post")

    live.walk("gps-001", 5, 8, inside=False)  # he walks out, unreported, the page open

    departure = "#alerts li[data-type='alert.unreported_departure']"
    wait_for(browser, f"{departure}[data-status='open']")
    assert "未报备离岗" in text_of(browser, departure) and "张伟" in text_of(browser, departure)
    wait_for(browser, "#guards li[data-guard-id='g-001'][data-standing='away_unreported']")
    wait_for(browser, "#map g.guard[data-guard-id='g-001'][data-standing='away_unreported']")
    # Only the stream writes the events list: the departure came live, not by a reload.
    wait_for(browser, "#events li[data-type='presence.departed']")
    wait_for(browser, "#events li[data-type='alert.unreported_departure']")
    assert browser.find_element(By.ID, "alert-count").text == "1"
    shots.take("departure")

    click(browser, f"{departure} button.ack")
    acknowledged = f"{departure}[data-status='acknowledged']"
    wait_for(browser, acknowledged)
    assert "jt-leader-a" in text_of(browser, acknowledged)
    assert browser.find_elements(By.CSS_SELECTOR, f"{acknowledged} button.ack") == []
    assert len(browser.find_elements(By.CSS_SELECTOR, f"{acknowledged} button.resolve")) == 1
    shots.take("acknowledged")

    alerts = admin.get("/alerts", params={"guard_id": "g-001"}).json()
    assert [(a["type"], a["status"], a["acknowledged_by"]) for a in alerts] == [
        ("alert.unreported_departure", "acknowledged", "jt-leader-a")
    ]
    audit = admin.get("/audit", params={"action": "alert.acknowledge"}).json()
    assert [(row["token_name"], row["role"]) for row in audit] == [("jt-leader-a", "leader")]

    # He resolves it by hand with a note, typed into the page's prompt.
    click(browser, f"{acknowledged} button.resolve")
    WebDriverWait(browser, 10).until(lambda d: d.switch_to.alert)
    prompt = browser.switch_to.alert
    prompt.send_keys("已电话联系，回岗 called him, back at post")
    prompt.accept()
    wait_for(browser, f"{departure}[data-status='resolved']")
    assert browser.find_elements(By.CSS_SELECTOR, f"{departure} button") == []
    alerts = admin.get("/alerts", params={"guard_id": "g-001"}).json()
    assert [(a["status"], a["resolution"], a["resolved_note"]) for a in alerts] == [
        ("resolved", "by_hand", "已电话联系，回岗 called him, back at post")
    ]
    audit = admin.get("/audit", params={"action": "alert.resolve"}).json()
    assert [(row["token_name"], row["role"]) for row in audit] == [("jt-leader-a", "leader")]
    shots.take("resolved")

    # His track of the day: the 14 fixes, drawn on the map.
    click(browser, "#guards li[data-guard-id='g-001'] button.track-button")
    wait_for(browser, "#map polyline#track-line")
    assert browser.find_element(By.ID, "track-info").text == "张伟 2026-03-02: 14 点 fixes"
    shots.take("track")

    browser.set_window_size(*DESKTOP)
    shots.take("desktop")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    shots.keep()
    assert len(shots.taken) == 6


def test_a_wrong_token_is_refused_on_the_login_form(live: LiveGateway, browser: Any) -> None:
    browser.get(f"{live.url}/live")
    browser.find_element(By.ID, "token").send_keys("not-a-token")
    browser.find_element(By.ID, "login-button").click()
    WebDriverWait(browser, WAIT_S).until(
        lambda d: "令牌无效" in d.find_element(By.ID, "login-error").text
    )
    assert browser.find_element(By.ID, "main").is_displayed() is False
    assert browser.execute_script("return sessionStorage.length + localStorage.length") == 0


def solid_png(size: int = 256, rgb: tuple[int, int, int] = (214, 226, 205)) -> bytes:
    """A plain ``size``² PNG, built by hand: a tile as a tile server sends it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """A slippy-map tile server on 127.0.0.1 answering every path with a tile; the paths
    asked are listed."""
    asked: list[str] = []
    tile = solid_png()

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile)))
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{{z}}/{{x}}/{{y}}.png", asked
    finally:
        server.shutdown()
        server.server_close()


def test_with_a_gcj02_tile_layer_fences_and_guards_are_drawn_in_gcj02_over_the_tiles(
    engine: Engine, browser: Any, tile_server: tuple[str, list[str]], tmp_path: Path
) -> None:
    template, asked = tile_server
    tiles = TileLayer(template, Datum.GCJ02, "© 高德地图 AMap")
    with served_sample_site(engine, tiles=tiles) as live:
        live.walk("gps-001", 1, 5, inside=True)
        browser.get(f"{live.url}/live")
        browser.find_element(By.ID, "token").send_keys(live.token("admin", "ops"))
        browser.find_element(By.ID, "login-button").click()
        wait_for(browser, "#guards li.guard", 5)
        wait_for(browser, "#map g.guard[data-guard-id='g-001'] circle")
        assert browser.find_element(By.ID, "map-datum").text.startswith("GCJ-02")
        assert browser.find_element(By.ID, "attribution").text == "© 高德地图 AMap"
        hrefs = set(
            browser.execute_script(
                "return [...document.querySelectorAll('#map image.tile')]"
                ".map(i => i.getAttribute('href'))"
            )
        )
        assert len(hrefs) >= 1
        assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+/1[5-9]/\d+/\d+\.png", h) for h in hrefs)
        WebDriverWait(browser, WAIT_S).until(
            lambda _d: set(asked) >= {h[h.index("/", 7) :] for h in hrefs}
        )
        # The guard, placed by the same datum as the fence, stands inside the north gate.
        box, (cx, cy) = browser.execute_script(
            "const b = document.querySelector(\"path[data-post-id='jt-gate-north']\").getBBox();"
            "const c = document.querySelector(\"g.guard[data-guard-id='g-001'] circle\");"
            "return [[b.x, b.y, b.width, b.height],"
            " [+c.getAttribute('cx'), +c.getAttribute('cy')]];"
        )
        assert box[0] <= cx <= box[0] + box[2] and box[1] <= cy <= box[1] + box[3]
        shots = Shots(browser, tmp_path)
        shots.take("gcj02-tiles")
        shots.keep()


def log_in(browser: Any, url: str | None, token: str, by: str = "") -> None:
    """Log in with ``token``: on the page freshly opened from ``url``, or (``None``) on the
    login form the page shows."""
    if url is not None:
        browser.get(f"{url}/live")
    browser.find_element(By.ID, "token").clear()
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "by").send_keys(by)
    browser.find_element(By.ID, "login-button").click()
    wait_for(browser, "#connection[data-state='live']")


def listed_events(browser: Any) -> list[str]:
    types: list[str] = browser.execute_script(
        "return [...document.querySelectorAll('#events li')].map(li => li.dataset.type)"
    )
    return types


def test_the_page_back_after_a_gateway_restart_lists_what_happened_meanwhile_once(
    db_url: str, browser: Any
) -> None:
    """The gateway restarts for an upgrade and, before 刘建国's phone is back, works through the
    broker's backlog: 张伟 left his post. The page reconnects and its live events list the
    departure and its alert once each, after the arrival it had: nothing missed, nothing
    doubled."""
    browser.set_window_size(*SMALL_PHONE)
    load_built_sample_site(db_url)
    clock = ManualClock(DAY_START)
    with built_sample_site(db_url, clock) as first:
        token = first.live.token("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
        log_in(browser, first.live.url, token)
        first.live.walk("gps-001", 1, 5, inside=True)
        wait_for(browser, "#events li[data-type='presence.arrived']")
        port = first.port
    wait_for(browser, "#connection[data-state='retrying']")

    def backlog(live: LiveGateway) -> None:
        live.walk("gps-001", 5, 8, inside=False)

    with built_sample_site(db_url, clock, port=port, before_serving=backlog):
        wait_for(browser, "#connection[data-state='live']")
        wait_for(browser, "#events li[data-type='alert.unreported_departure']")
        assert listed_events(browser) == [
            "alert.unreported_departure",
            "presence.departed",
            "presence.arrived",
        ]
        wait_for(browser, "#alerts li[data-type='alert.unreported_departure']")


def test_after_a_leader_logs_out_the_next_one_on_the_device_sees_none_of_his_team(
    live: LiveGateway, browser: Any, tmp_path: Path
) -> None:
    """The control room's tablet (or a phone handed over at the end of the day): 刘建国 (team A)
    logs out and 陈志强 (team B) logs in on the same page. Team A's guards, alerts and live
    events, and the track 刘建国 had open, are not his to see (art. 12.3)."""
    browser.set_window_size(*SMALL_PHONE)
    team_a = live.token("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
    team_b = live.token("leader", "jt-leader-b", sites=(SITE,), teams=("B",))
    log_in(browser, live.url, team_a, by="jt-leader-a")
    live.walk("gps-001", 1, 5, inside=True)
    live.walk("gps-001", 5, 8, inside=False)
    wait_for(browser, "#alerts li[data-type='alert.unreported_departure']")
    wait_for(browser, "#events li[data-type='alert.unreported_departure']")
    click(browser, "#guards li[data-guard-id='g-001'] button.track-button")
    wait_for(browser, "#map polyline#track-line")
    # The page fits a small phone: nothing wider than the screen.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= SMALL_PHONE[0]
    Shots(browser, tmp_path).take("small-phone")

    browser.find_element(By.ID, "logout").click()
    wait_for(browser, "#login:not([hidden])")
    # His token and his id are gone from the form: 陈志强 can neither log in as him nor sign
    # acknowledgements with his name.
    form = "return [document.getElementById('token').value, document.getElementById('by').value]"
    assert browser.execute_script(form) == ["", ""]
    log_in(browser, None, team_b)  # on the same page, not reloaded
    wait_for(browser, "#site-name")
    browser.execute_script("return new Promise(r => setTimeout(r, 1000))")  # a refresh's time
    shown: dict[str, Any] = browser.execute_script(
        "const q = (s) => document.querySelectorAll(s).length;"
        "return {guards: q('#guards li'), alerts: q('#alerts li'), events: q('#events li'),"
        " onMap: q('#map g.guard'), track: q('#map .track'),"
        " trackInfo: document.getElementById('track-info').textContent,"
        " text: document.getElementById('main').innerText};"
    )
    assert "张伟" not in shown.pop("text")
    assert shown == {
        "guards": 0, "alerts": 0, "events": 0, "onMap": 0, "track": 0, "trackInfo": ""
    }  # fmt: skip
