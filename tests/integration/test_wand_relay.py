"""A wand's download told to the process holding its guard (``gateway.pipeline.relay``): two
processors on one real database, each holding part of the guards, as a partitioned run sets
them. The download is imported by the process that received the API call; the guard's round is
judged by the one that holds him, after the scans the download brought, and once.

The site of ``test_scan_relay``: g-103 patrols the garden with his wand, one checkpoint
(fountain) on a round every hour from 08:05, its window 08:05-08:15, 5 minutes' tolerance.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pytest_mock import MockerFixture
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.patrol_repository import wand_downloads
from gateway.pipeline.commands import ImportWandDownload
from gateway.pipeline.processor import Processor
from gateway.site.loader import load_site_file
from tests.e2e.helpers import outbox_rows
from tests.fixtures.databases import CommitFault

from .test_scan_relay import FOUNTAIN, START, garden_site, two_processes, waiting

WAND, GUARD = "wand-103", "g-103"
BOOTH_WAND = "wand-garden"


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def download(
    processor: Processor, minutes_read: list[float], downloaded: float, wand: str = WAND
) -> None:
    """Import the log of ``wand`` (its clock right, in local time) at minute ``downloaded``."""
    lines = ["wand_id,tag_id,time"]
    lines += [
        f"{wand},{FOUNTAIN},{at(m) + timedelta(hours=8):%Y-%m-%d %H:%M:%S}" for m in minutes_read
    ]
    processor.run_command(
        ImportWandDownload(
            wand_id=wand,
            csv_text="\n".join(lines) + "\n",
            wand_clock_at_download=at(downloaded),
            downloaded_at=at(downloaded),
        )
    )


def patrol_events(engine: Engine) -> list[tuple[str, bool | None]]:
    """(type, counted) of g-103's patrol events and missed alerts, in order."""
    return [
        (row.type, json.loads(row.body)["data"].get("counted"))
        for row in outbox_rows(engine)
        if row.subject == GUARD
        and row.destination == "core"
        and (row.type.startswith("patrol.") or row.type == "alert.checkpoint_missed")
    ]


def tick_both(clock: ManualClock, *processors: Processor, minutes: float) -> None:
    clock.set(at(minutes))
    for processor in processors:
        processor.tick()


def test_a_download_imported_elsewhere_is_judged_by_the_guards_process_after_its_scans(
    engine: Engine, tmp_path: Path
) -> None:
    receiver, owner, clock = two_processes(engine, tmp_path, [GUARD], {GUARD})
    # The tolerances of the 08:05 and 09:05 rounds ran out at 08:20 and 09:20.
    tick_both(clock, receiver, owner, minutes=90)
    assert patrol_events(engine) == []

    download(receiver, [7], downloaded=91)  # he walked the first round only
    assert waiting(engine) == 1 and patrol_events(engine) == []  # nothing judged by the receiver
    tick_both(clock, owner, receiver, minutes=92)
    assert patrol_events(engine) == [
        ("patrol.checkpoint_scanned", True),
        ("patrol.round_completed", None),
        ("alert.checkpoint_missed", None),
        ("patrol.round_completed", None),
    ]
    # Told again on every pass, by both processes, and after a restart: nothing more.
    restarted = Processor(engine, clock)
    restarted.set_scope(lambda guard: guard == GUARD)
    for minute in (93, 94):
        tick_both(clock, owner, receiver, restarted, minutes=minute)
    assert len(patrol_events(engine)) == 4


def test_with_more_scans_than_a_pass_takes_the_download_waits_for_the_last(
    engine: Engine, tmp_path: Path, mocker: MockerFixture
) -> None:
    mocker.patch("gateway.pipeline.relay.RELAY_PER_PASS", 1)
    receiver, owner, clock = two_processes(engine, tmp_path, [GUARD], {GUARD})
    download(receiver, [7, 67], downloaded=90)  # the 08:05 and 09:05 rounds
    tick_both(clock, owner, minutes=91)
    # One scan applied: told now, the 09:05 round would be judged missed without its scan.
    assert waiting(engine) == 1
    assert [t for t, _ in patrol_events(engine) if t == "alert.checkpoint_missed"] == []
    tick_both(clock, owner, minutes=92)
    assert waiting(engine) == 0
    types = [t for t, _ in patrol_events(engine)]
    assert types.count("patrol.round_completed") == 2
    assert "alert.checkpoint_missed" not in types


def test_a_pass_that_fails_tells_the_download_again_and_once(
    engine: Engine, tmp_path: Path, mocker: MockerFixture
) -> None:
    receiver, owner, clock = two_processes(engine, tmp_path, [GUARD], {GUARD})
    download(receiver, [], downloaded=30)  # nothing scanned: the round is missed
    fault = CommitFault(engine)
    mocker.patch.object(engine.dialect, "do_commit", fault)
    fault.fail(1)
    clock.set(at(31))
    with pytest.raises(OperationalError, match="injected"):
        owner.tick()
    assert patrol_events(engine) == []
    for minute in (32, 33):
        tick_both(clock, owner, minutes=minute)
    assert fault.fired == 1
    assert patrol_events(engine) == [
        ("alert.checkpoint_missed", None),
        ("patrol.round_completed", None),
    ]


def test_an_older_download_does_not_replace_the_latest(engine: Engine, tmp_path: Path) -> None:
    receiver, _owner, _clock = two_processes(engine, tmp_path, [GUARD], {GUARD})
    download(receiver, [], downloaded=40)
    download(receiver, [], downloaded=35)  # a copy of an older log, imported late
    with Session(engine) as session:
        assert wand_downloads(session) == {WAND: at(40)}


def test_two_wands_of_his_shift_downloaded_elsewhere_are_told_together_and_both_count(
    engine: Engine, tmp_path: Path
) -> None:
    # His own wand and the one kept at the garden's booth, both downloaded by the receiver
    # before his process's next pass: that pass tells it the two downloads at once. Before,
    # the second was told to the machine as it was before the first, which it forgot: the
    # rounds waited for a download already in (to the end of wand_download_wait_s).
    path = garden_site(tmp_path, [GUARD])
    doc = yaml.safe_load(path.read_text("utf-8"))
    doc["sites"][0]["devices"].append(
        {"id": BOOTH_WAND, "kind": "patrol_wand", "post": "pt-garden"}
    )
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    load_site_file(path, engine, START)
    clock = ManualClock(at(6))
    receiver, owner = Processor(engine, clock), Processor(engine, clock)
    receiver.set_scope(lambda guard: guard != GUARD)
    owner.set_scope(lambda guard: guard == GUARD)
    tick_both(clock, receiver, owner, minutes=6)
    tick_both(clock, receiver, owner, minutes=90)
    download(receiver, [7], downloaded=91)
    download(receiver, [], downloaded=91, wand=BOOTH_WAND)
    assert patrol_events(engine) == []
    tick_both(clock, owner, minutes=92)
    assert patrol_events(engine) == [
        ("patrol.checkpoint_scanned", True),
        ("patrol.round_completed", None),
        ("alert.checkpoint_missed", None),
        ("patrol.round_completed", None),
    ]
