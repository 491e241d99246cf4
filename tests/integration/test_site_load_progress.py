"""``guard-gateway site load`` tells its progress on stderr, step by step, and keeps stdout to
the one summary line a script reads."""

from __future__ import annotations

import os

import pytest

from gateway.cli import main
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "gateway" / "samples" / "wuhan-site.yaml"


def test_site_load_reports_each_step_on_stderr(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("GATEWAY_") and name != "GATEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    assert main(["site", "load", str(SAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert out == (
        f"{SAMPLE}: stored site(s) wh-jiangtan-garden: 6 posts, 10 guards, 2 leaders, "
        "10 devices, 90 shifts, 0 group robots\n"
    )
    size = SAMPLE.stat().st_size
    assert err.splitlines() == [
        f"site load {SAMPLE}: read {size} bytes, 1 site(s)",
        f"site load {SAMPLE}: checked: 0 problem(s)",
        f"site load {SAMPLE}: site wh-jiangtan-garden written (1/1)",
        f"site load {SAMPLE}: committed",
    ]
