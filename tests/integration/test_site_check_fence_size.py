"""``guard-gateway site check`` refuses a post's fence too small to be a post: a circle whose
radius was written in kilometres (``radius_m: 0.08`` for 80 m) or a polygon whose corners lost
digits. Accepted, it had the guard leave his post whenever his fix strayed past the boundary
margin (15 m): departures, overtime alerts, all false."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.cli import main

SITE = """\
sites:
  - id: wc-park
    name: 光谷软件园
    posts:
      - id: wc-patrol
        name: 园区巡逻岗
        kind: patrol
        datum: gcj02
        fence: {type: Circle, center: [114.40650, 30.50600], radius_m: 0.08}
      - id: wc-gate
        name: 正门岗
        datum: gcj02
        fence:
          type: Polygon
          coordinates:
            - [[114.40510, 30.50512], [114.40511, 30.50512], [114.40511, 30.50513],
               [114.40510, 30.50513]]
      - id: wc-booth
        name: 岗亭
        datum: gcj02
        fence: {type: Circle, center: [114.40700, 30.50700], radius_m: 1.5}
"""


def test_a_fence_smaller_than_a_post_is_refused_with_its_place(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("GATEWAY_") and name != "GATEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    path = tmp_path / "site.yaml"
    path.write_text(SITE, encoding="utf-8")
    assert main(["site", "check", str(path)]) == 1
    assert capsys.readouterr() == (
        "",
        f"{path}: 2 problems in the site file:\n"
        "  - sites[0].posts[0] (id 'wc-patrol'): circle radius 0.08 m is smaller than a post "
        "can be (at least 1 m): radius_m is in metres\n"
        "  - sites[0].posts[1] (id 'wc-gate'): fence spans 1.47 m, less than a post can "
        "(2 m): are some coordinates mistyped?\n",
    )
