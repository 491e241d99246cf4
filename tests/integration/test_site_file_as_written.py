"""``guard-gateway site check`` / ``site load`` read a site file as the person wrote it: an
unquoted PIN with leading zeros stays that PIN (YAML 1.1 would read ``0012`` as the octal
number 10, and his punches would go to nobody), and a key written twice in one mapping (two
``shifts:`` blocks) is refused with both lines instead of the first block being dropped."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.cli import main
from gateway.db.engine import make_engine
from gateway.db.models import ShiftRow, SiteRow
from gateway.db.patrol_repository import guard_for_pin

SITE = """\
sites:
  - id: wc-park
    name: 光谷软件园
    policy: {device_silent_s: 0600}
    posts:
      - id: wc-gate
        name: 正门岗
        datum: gcj02
        fence: {type: Circle, center: [114.40535, 30.50530], radius_m: 30}
    guards:
      - {id: wc-g1, name: 李明, pin: 0012}
      - {id: wc-g2, name: 王刚, pin: 0019}
    devices:
      - {id: wc-gps-1, kind: gps, guard: wc-g1}
      - {id: wc-gps-2, kind: gps, guard: wc-g2}
      - {id: wc-zk, kind: clock_in, post: wc-gate, sn: CKPJ201960001}
    shifts:
      - {guard: wc-g1, post: wc-gate, days: daily, start: "08:00", end: "20:00"}
"""
NIGHT = """\
    # night team
    shifts:
      - {guard: wc-g2, post: wc-gate, days: daily, start: "20:00", end: "08:00"}
"""


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in list(os.environ):
        if name.startswith("GATEWAY_") and name != "GATEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    return db_url


def test_an_unquoted_pin_with_leading_zeros_is_stored_as_written(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE, encoding="utf-8")
    assert main(["site", "load", str(path)]) == 0, capsys.readouterr().err
    engine = make_engine(cli_env)
    try:
        with Session(engine) as session:
            assert guard_for_pin(session, "wc-park", "0012") == "wc-g1"
            assert guard_for_pin(session, "wc-park", "10") is None  # not the octal reading
            assert guard_for_pin(session, "wc-park", "0019") == "wc-g2"
            site = session.get(SiteRow, "wc-park")
            assert site is not None
            assert site.policy == {"device_silent_s": 600.0}  # not octal 384
    finally:
        engine.dispose()


def test_two_shifts_blocks_in_one_site_are_refused_with_both_lines(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE + NIGHT, encoding="utf-8")
    expected = (
        f"{path}: not a readable site file: key 'shifts' is given twice in one mapping "
        "(first at line 17): YAML would keep the second and drop the first; merge them into "
        f'one\n  in "{path}", line 20, column 5\n'
    )
    assert main(["site", "check", str(path)]) == 1
    assert capsys.readouterr() == ("", expected)
    assert main(["site", "load", str(path)]) == 1
    assert capsys.readouterr().err == expected
    engine = make_engine(cli_env)
    try:
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(SiteRow)) == 0
            assert session.scalar(select(func.count()).select_from(ShiftRow)) == 0
    finally:
        engine.dispose()


def test_a_key_given_twice_in_a_json_site_file_is_refused(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = {"id": "wc-park", "name": "光谷软件园", "shifts": []}
    text = json.dumps({"sites": [site]}, ensure_ascii=False)
    path = tmp_path / "site.json"
    path.write_text(text.replace('"shifts": []', '"shifts": [], "shifts": []'), encoding="utf-8")
    assert main(["site", "check", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"{path}: not a readable site file: key 'shifts' is given twice in one object: JSON "
        "would keep the second and drop the first; merge them into one\n"
    )
