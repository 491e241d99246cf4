"""The live page's routes over real HTTP on the sample site (SQLite and PostgreSQL): the page's
own files, the site geometry and the guards in a map's datum, a guard's track of a day, and the
event stream, each within the token's scope."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine

from gateway.api.tokens import Principal, Role
from gateway.pipeline.context import EmittedEvent
from gateway.web.geometry import TileLayer
from gateway.web.stream import QUEUE_LIMIT, LiveFeed, event_stream
from geofence.datum import Datum, from_wgs84, wgs84_to_gcj02
from tests.e2e.helpers import fix_at
from tests.fixtures.api_tokens import bearer
from tests.fixtures.live_gateway import SITE, LiveGateway, at, served_sample_site

NORTH_GATE_FIRST_VERTEX_GCJ02 = [114.29979, 30.60687]
"""As drawn on AMap in the sample site file."""


@pytest.fixture
def live(engine: Engine) -> Iterator[LiveGateway]:
    with served_sample_site(engine) as gateway:
        yield gateway


def leader_a(live: LiveGateway) -> httpx.Client:
    token = live.token("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
    return live.client(token)


# --- the page's files --------------------------------------------------------------------------


def test_the_page_and_its_files_are_served_without_a_token_and_nothing_else_is(
    live: LiveGateway,
) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as anonymous:
        page = anonymous.get("/live")
        script = anonymous.get("/live/static/app.js")
        style = anonymous.get("/live/static/app.css")
        assert [page.status_code, script.status_code, style.status_code] == [200, 200, 200]
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert style.headers["content-type"] == "text/css; charset=utf-8"
        assert '<html lang="zh-CN">' in page.text
        assert "http://" not in page.text and "https://" not in page.text  # no CDN
        assert "https://" not in script.text
        drawing = anonymous.get("/live/static/map.js")
        assert drawing.status_code == 200 and "function drawMap" in drawing.text
        assert '<script src="/live/static/map.js">' in page.text
        reading = anonymous.get("/live/static/stream.js")
        assert reading.status_code == 200 and "Last-Event-ID" in reading.text
        assert '<script src="/live/static/stream.js">' in page.text
        assert anonymous.get("/", follow_redirects=False).headers["location"] == "/live"
        for name in ("../app.py", "routes.py", "nothing.js", "%2e%2e%2fapp.py"):
            assert anonymous.get(f"/live/static/{name}").status_code == 404, name
        for path in ("/map", "/map/whereabouts", "/guards/g-001/track", "/events/stream"):
            assert anonymous.get(path).status_code == 401, path


# --- the map -----------------------------------------------------------------------------------


def test_the_map_gives_the_fences_as_drawn_in_gcj02_and_converted_to_wgs84(
    live: LiveGateway,
) -> None:
    client = leader_a(live)
    drawn = client.get("/map", params={"datum": "gcj02"}).json()
    plain = client.get("/map").json()
    assert drawn["datum"] == "gcj02" and plain["datum"] == "wgs84"
    assert drawn["tiles"] is None
    assert drawn["me"] == {"name": "jt-leader-a", "role": "leader", "sites": [SITE], "teams": ["A"]}
    assert [site["id"] for site in drawn["sites"]] == [SITE]
    posts = {post["id"]: post for post in drawn["sites"][0]["posts"]}
    assert sorted(posts) == [
        "jt-control-room",
        "jt-garage-b1",
        "jt-gate-east",
        "jt-gate-north",
        "jt-patrol-central",
        "jt-plaza",
    ]
    north = posts["jt-gate-north"]
    vertex = north["polygons"][0][0][0]
    assert vertex == pytest.approx(NORTH_GATE_FIRST_VERTEX_GCJ02, abs=2e-6)
    assert len(north["polygons"][0][0]) == 6  # the ring as drawn, closed
    wgs = {post["id"]: post for post in plain["sites"][0]["posts"]}["jt-gate-north"]
    assert wgs84_to_gcj02(*wgs["polygons"][0][0][0]) == pytest.approx(vertex, abs=2e-6)
    assert wgs["polygons"][0][0][0][0] < vertex[0] - 0.004  # ~500 m west: a real shift
    plaza = posts["jt-plaza"]
    assert plaza["circle"]["radius_m"] == 30
    assert plaza["circle"]["center"] == pytest.approx([114.29900, 30.60420], abs=2e-6)
    assert drawn["titles"]["alert.unreported_departure"] == "未报备离岗 (unreported departure)"
    assert client.get("/map", params={"datum": "mars"}).status_code == 422


def test_a_leader_of_another_site_sees_no_site(live: LiveGateway) -> None:
    other = live.client(live.token("leader", "elsewhere", sites=("another-site",)))
    answer = other.get("/map").json()
    assert answer["sites"] == []
    assert other.get("/map/whereabouts").json()["guards"] == []


def test_the_tile_layer_is_given_to_the_page(engine: Engine) -> None:
    tiles = TileLayer("http://tiles.lan/{z}/{x}/{y}.png", Datum.GCJ02, "© AMap")
    with served_sample_site(engine, tiles=tiles) as gateway:
        client = gateway.client(gateway.token("admin", "ops"))
        assert client.get("/map").json()["tiles"] == {
            "url": "http://tiles.lan/{z}/{x}/{y}.png",
            "datum": "gcj02",
            "attribution": "© AMap",
        }


# --- whereabouts and track ---------------------------------------------------------------------


def test_whereabouts_in_a_map_datum_says_how_each_guard_stands(live: LiveGateway) -> None:
    client = leader_a(live)
    live.walk("gps-001", 1, 5, inside=True)
    live.walk("gps-001", 5, 8, inside=False)
    answer = client.get("/map/whereabouts", params={"datum": "gcj02"}).json()
    guards = {guard["guard_id"]: guard for guard in answer["guards"]}
    assert sorted(guards) == ["g-001", "g-002", "g-003", "g-004", "g-005"]
    assert guards["g-001"]["state"] == "off_post"
    assert guards["g-001"]["standing"] == "away_unreported"
    assert [guards[g]["standing"] for g in ("g-002", "g-003")] == ["not_arrived"] * 2
    fix = guards["g-001"]["last_fix"]
    lon, lat = from_wgs84(fix["lon"], fix["lat"], Datum.GCJ02)
    assert fix["map"] == {"datum": "gcj02", "lat": lat, "lon": lon}
    # The plain route is unchanged but for the new standing.
    plain = {g["guard_id"]: g for g in client.get("/whereabouts").json()["guards"]}
    assert "map" not in plain["g-001"]["last_fix"]
    assert plain["g-001"]["standing"] == "away_unreported"

    # Phoned in before he left, typed in now: the departure was reported.
    report = client.post("/reports", json={"guard_id": "g-001", "reported_at": at(4).isoformat()})
    assert report.status_code == 201
    again = {g["guard_id"]: g for g in client.get("/map/whereabouts").json()["guards"]}
    assert again["g-001"]["standing"] == "away_reported"


def test_a_guards_track_of_the_day_in_the_maps_datum_within_scope(live: LiveGateway) -> None:
    live.walk("gps-001", 1, 5, inside=True)  # 8 fixes
    live.walk("gps-001", 5, 8, inside=False)  # 6 fixes
    client = leader_a(live)
    track = client.get("/guards/g-001/track", params={"date": "2026-03-02", "datum": "gcj02"})
    assert track.status_code == 200
    body = track.json()
    assert (body["date"], body["timezone"], body["datum"]) == (
        "2026-03-02",
        "Asia/Shanghai",
        "gcj02",
    )
    assert len(body["points"]) == 14 and body["truncated"] is False
    first = body["points"][0]
    assert first["time"] == at(1).isoformat()
    inside = fix_at("gps-001", at(1), live.north_gate.inside)
    assert first["position"] == pytest.approx(
        list(wgs84_to_gcj02(inside.lon, inside.lat)), abs=1e-6
    )
    assert [p["membership"] for p in body["points"]].count("outside") == 6
    # Today (the clock's date in Wuhan) is the default; another day is empty.
    assert len(client.get("/guards/g-001/track").json()["points"]) == 14
    assert client.get("/guards/g-001/track", params={"date": "2026-03-01"}).json()["points"] == []
    # Another team's leader, and an unknown guard: not found alike.
    team_b = live.client(live.token("leader", "jt-leader-b", sites=(SITE,), teams=("B",)))
    assert team_b.get("/guards/g-001/track").status_code == 404
    assert client.get("/guards/g-999/track").status_code == 404
    for bad in ("2026-13-01", "0", "2026-3-2"):
        assert client.get("/guards/g-001/track", params={"date": bad}).status_code == 422, bad


# --- the event stream --------------------------------------------------------------------------


class StreamReader:
    """Reads an SSE stream on a thread; ``blocks`` gets each event block as a dict."""

    def __init__(self, url: str, token: str, last_event_id: str | None = None) -> None:
        self.blocks: queue.Queue[dict[str, str]] = queue.Queue()
        self._client = httpx.Client(base_url=url, timeout=httpx.Timeout(10, read=None))
        self._headers = bearer(token)
        if last_event_id is not None:
            self._headers["Last-Event-ID"] = last_event_id
        self.status: int | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/events/stream", headers=self._headers) as s:
                self.status = s.status_code
                block: dict[str, str] = {}
                for line in s.iter_lines():
                    if not line:
                        if block:
                            self.blocks.put(block)
                        block = {}
                    elif line.startswith(":"):
                        block.setdefault("comment", line)
                    else:
                        key, _, value = line.partition(":")
                        block[key] = value.strip()
        except httpx.HTTPError:
            pass

    def next(self, timeout: float = 10) -> dict[str, str]:
        return self.blocks.get(timeout=timeout)

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the server to end the stream."""
        self._thread.join(timeout)

    def reading(self) -> bool:
        """Whether the stream is still open."""
        return self._thread.is_alive()

    def close(self) -> None:
        self._client.close()


def test_the_stream_carries_committed_events_to_the_leaders_who_cover_them(
    live: LiveGateway,
) -> None:
    team_a = StreamReader(live.url, live.token("leader", "a", sites=(SITE,), teams=("A",)))
    team_b = StreamReader(live.url, live.token("leader", "b", sites=(SITE,), teams=("B",)))
    try:
        assert team_a.next()["event"] == "hello"
        assert team_b.next()["event"] == "hello"
        assert (team_a.status, team_b.status) == (200, 200)
        live.walk("gps-001", 1, 5, inside=True)
        live.walk("gps-001", 5, 8, inside=False)
        seen = []
        while "alert.unreported_departure" not in seen:
            seen.append(team_a.next()["event"])
        assert seen == ["presence.arrived", "presence.departed", "alert.unreported_departure"]
        assert team_b.blocks.empty()
    finally:
        team_a.close()
        team_b.close()


def test_a_quiet_stream_sends_keep_alives_and_one_left_behind_is_told_to_resync(
    engine: Engine,
) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        feed = LiveFeed(engine)
        admin = Principal(token_id="t", name="ops", role=Role.ADMIN)
        quiet = feed.subscribe(admin)
        stream = event_stream(feed, quiet, keepalive_s=0.05)
        first = [await anext(stream), await anext(stream), await anext(stream)]
        await stream.aclose()
        behind = feed.subscribe(admin)
        event = EmittedEvent(
            "e", "presence.departed", "g-001", datetime(2026, 3, 2, tzinfo=UTC), {}
        )
        feed.publish([event] * (QUEUE_LIMIT + 1))
        await asyncio.sleep(0.05)
        rest = [chunk async for chunk in event_stream(feed, behind, keepalive_s=5)]
        assert feed.open_streams == 0
        return first, rest

    first, rest = asyncio.run(scenario())
    assert first == [
        "retry: 3000\nevent: hello\ndata: {}\n\n",
        ": keep-alive\n\n",
        ": keep-alive\n\n",
    ]
    assert rest[0].startswith("retry: 3000")
    assert rest[1:] == [
        'event: resync\ndata: {"type":"resync","data":{"reason":"too far behind"}}\n\n'
    ]
