"""Rounds walked with an offline patrol wand are judged when the wand is downloaded, through
the pipeline as ``guard-gateway run`` drives it: the wand's log posted to
``POST /wands/{id}/downloads`` over HTTP, the runtime ticking the rules meanwhile. Before, every
window of such a round ran out on the clock: each checkpoint was reported missed, and the
download's scans, arriving after their rounds were settled, counted for nothing. SQLite and
PostgreSQL.

The patrol morning of ``tests.ledger.patrol_scenario`` (g-004 patrols the central garden
08:00-10:00, a round at 08:30 and 09:30 over east, fountain and west, windows 0-5, 5-10, 10-15
minutes), walked the same way, but with a wand he carries instead of readers at the
checkpoints: east 08:31, fountain 08:36 (west skipped); east 09:31, fountain 09:36, west 09:47
(late, within the tolerance). Read live, that morning gives 5 checkpoints scanned, 1 late, 1
missed for good (``tests/ledger/test_ledger_patrol.py``): downloaded, it must give the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import PatrolStateRow
from gateway.ledger.service import day_ledger
from gateway.pipeline.commands import ImportWandDownload
from gateway.pipeline.processor import Processor
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, outbox_rows
from tests.fixtures.api_server import api_over_http
from tests.fixtures.nfc import wait_until
from tests.ledger.patrol_scenario import PATROLLER, TAGS, at, patrol_data, patrol_site

WAND = "wand-g004"
SITE = "wh-jiangtan-garden"
WALKED = {31: "cp-east", 36: "cp-fountain", 91: "cp-east", 96: "cp-fountain", 107: "cp-west"}


def _wand_site(tmp_path: Path, policy: dict[str, Any] | None = None) -> Path:
    """The patrol site with g-004's wand in place of the checkpoints' readers."""
    path = patrol_site(tmp_path)
    doc = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    site["devices"] = [d for d in site["devices"] if d["kind"] != "em4100_reader"]
    site["devices"].append({"id": WAND, "kind": "patrol_wand", "guard": PATROLLER[0]})
    site["policy"] = {**site.get("policy", {}), **(policy or {})}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _log(walked: dict[int, str]) -> str:
    """The wand's CSV: its clock in local time (Asia/Shanghai, UTC+8), as wands keep it."""
    lines = ["wand_id,tag_id,time"]
    for minute, checkpoint in sorted(walked.items()):
        local = at(minute) + timedelta(hours=8)
        lines.append(f"{WAND},{TAGS[checkpoint]},{local:%Y-%m-%d %H:%M:%S}")
    return "\n".join(lines) + "\n"


def _patrol_machines(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(PatrolStateRow)) or 0


def _core(engine: Engine, type_: str) -> list[dict[str, Any]]:
    return [
        json.loads(row.body)
        for row in outbox_rows(engine)
        if row.destination == "core" and row.type == type_
    ]


@pytest.fixture
def gateway(engine: Engine, tmp_path: Path) -> Iterator[tuple[httpx.Client, ManualClock]]:
    """The site loaded an hour before the shift; the runtime started at 09:58, every patrol
    window of the morning run out and the wand not yet downloaded; the API over HTTP."""
    load_site_file(_wand_site(tmp_path), engine, at(-60))
    clock = ManualClock(at(118))
    with api_over_http(engine, clock) as http:
        yield http, clock


def test_a_round_walked_with_a_wand_is_judged_on_its_download_as_if_read_live(
    gateway: tuple[httpx.Client, ManualClock], engine: Engine
) -> None:
    http, clock = gateway
    # The runtime's first tick started the route's machine, and judged nothing: on the clock
    # every window of the morning has run out, but the wand has not been downloaded.
    assert wait_until(lambda: _patrol_machines(engine) == 1)
    assert _core(engine, "alert.checkpoint_missed") == []
    assert _core(engine, "patrol.round_completed") == []

    clock.set(at(125))  # downloaded at the booth after the shift
    sent = http.post(
        f"/wands/{WAND}/downloads",
        content=_log(WALKED),
        params={"wand_clock": clock.now().isoformat()},  # its clock is right
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["stored"] == 5

    scanned = [d for kind, _, d in patrol_data(engine) if kind == "patrol.checkpoint_scanned"]
    assert [(d["checkpoint_id"], d["counted"], d["late"]) for d in scanned] == [
        ("cp-east", True, False),
        ("cp-fountain", True, False),
        ("cp-east", True, False),
        ("cp-fountain", True, False),
        ("cp-west", True, True),
    ]
    [missed] = _core(engine, "alert.checkpoint_missed")
    assert missed["data"]["checkpoint_id"] == "cp-west"
    assert missed["time"] == "2026-03-02T00:45:00Z"  # the window's end, 08:45
    assert missed["data"]["judged_on"] == "download"
    assert missed["data"]["detected_at"] == at(125).isoformat()
    # The 09:30 round, walked whole, completed at its last scan as the log was read; the
    # 08:30 round when the download covered it.
    second, first = (body["data"] for body in _core(engine, "patrol.round_completed"))
    assert (first["round_start"], second["round_start"]) == (at(30).isoformat(), at(90).isoformat())
    assert (first["scanned"], first["missed_checkpoints"]) == (2, ["cp-west"])
    assert (second["scanned"], second["late"], second["missed"]) == (3, 1, 0)
    # The day's figures are those of the same morning read live.
    ledger = day_ledger(engine, SITE, DAY_START.date(), at(24 * 60))
    [guard] = [g for g in ledger["guards"] if g["guard_id"] == PATROLLER[0]]
    assert guard["patrol"] == {
        "scans": 5,
        "checkpoints_scanned": 5,
        "checkpoints_late": 1,
        "checkpoints_missed": 1,
        "rounds_completed": 2,
    }


def test_the_download_is_awaited_across_a_restart_and_the_wait_can_run_out(
    engine: Engine, tmp_path: Path
) -> None:
    # The site waits an hour for a wand. Its first round is downloaded at 09:20 (after a
    # restart); the second round's log never comes: judged at 10:50 on what is in.
    load_site_file(_wand_site(tmp_path, {"wand_download_wait_s": 3600}), engine, at(-60))
    clock = ManualClock(at(-1))
    processor = Processor(engine, clock)
    for minute in range(0, 60):
        clock.set(at(minute + 0.1))
        processor.tick()
    assert _core(engine, "alert.checkpoint_missed") == []
    restarted = Processor(engine, clock)
    clock.set(at(80))
    restarted.tick()
    restarted.run_command(
        ImportWandDownload(
            wand_id=WAND,
            csv_text=_log({m: cp for m, cp in WALKED.items() if m < 60}),
            wand_clock_at_download=at(80),
            downloaded_at=at(80),
        )
    )
    [first] = [body["data"] for body in _core(engine, "patrol.round_completed")]
    assert (first["scanned"], first["missed_checkpoints"]) == (2, ["cp-west"])
    for minute in range(81, 175):
        clock.set(at(minute + 0.1))
        restarted.tick()
        if minute == 164:
            # The second round's windows end at 09:35, 09:40 and 09:45; with the tolerance
            # and the hour, judged at 10:40, 10:45 and 10:50: only east's so far.
            assert len(_core(engine, "alert.checkpoint_missed")) == 2
    missed = [body["data"] for body in _core(engine, "alert.checkpoint_missed")]
    assert [(d["checkpoint_id"], d["judged_on"]) for d in missed] == [
        ("cp-west", "download"),
        ("cp-east", "wait_ran_out"),
        ("cp-fountain", "wait_ran_out"),
        ("cp-west", "wait_ran_out"),
    ]
    assert len(_core(engine, "patrol.round_completed")) == 2


@pytest.mark.parametrize("restarted", [False, True], ids=["running", "restarted"])
@pytest.mark.parametrize("cut", ["route_taken_off", "relieved"])
def test_a_round_cut_while_it_waits_for_the_wand_is_judged_at_the_download(
    engine: Engine, tmp_path: Path, restarted: bool, cut: str
) -> None:
    # At 08:47 a site load takes the route off, or takes g-004's shift off (he is relieved,
    # PatrolStage.relieve): the 08:30 round he walked stays, cut there, and is judged on its
    # scans when the wand is downloaded at 09:00, also by a process started after the load.
    # (Before, the machine of a route taken off was never stepped again.)
    load_site_file(_wand_site(tmp_path), engine, at(-60))
    clock = ManualClock(at(-1))
    processor = Processor(engine, clock)
    for minute in range(0, 48):
        clock.set(at(minute + 0.1))
        if minute == 47:
            without = yaml.safe_load(_wand_site(tmp_path).read_text("utf-8"))
            site = without["sites"][0]
            if cut == "route_taken_off":
                site["routes"] = []
            else:
                site["shifts"] = [s for s in site["shifts"] if s["guard"] != PATROLLER[0]]
            path = tmp_path / "without-route.yaml"
            path.write_text(yaml.safe_dump(without, allow_unicode=True), encoding="utf-8")
            load_site_file(path, engine, clock.now())
            read = processor.read_roster(quick=True)
            assert read is not None and processor.adopt_roster(read)
        processor.tick()
    assert _core(engine, "patrol.round_completed") == []
    clock.set(at(60))
    if restarted:
        processor = Processor(engine, clock)
        processor.tick()
    processor.run_command(
        ImportWandDownload(
            wand_id=WAND,
            csv_text=_log({31: "cp-east", 36: "cp-fountain"}),
            wand_clock_at_download=at(60),
            downloaded_at=at(60),
        )
    )
    [missed] = [body["data"] for body in _core(engine, "alert.checkpoint_missed")]
    assert (missed["checkpoint_id"], missed["judged_on"]) == ("cp-west", "download")
    [done] = [body["data"] for body in _core(engine, "patrol.round_completed")]
    assert (done["scanned"], done["missed"], done["ended_early"]) == (2, 1, True)
    assert _patrol_machines_open(engine) == 0


def _patrol_machines_open(engine: Engine) -> int:
    with Session(engine) as session:
        states = session.scalars(select(PatrolStateRow.state)).all()
    return sum(1 for state in states if not state.get("closed"))
