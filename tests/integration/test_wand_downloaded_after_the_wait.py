"""A wand downloaded after the wait for it ran out: its scans withdraw the missed alerts they
show wrong (docs/site-file.md, "Rounds walked with an offline wand").

The patrol morning of ``tests.integration.test_wand_rounds`` (g-004 patrols 08:00-10:00 with
the wand he carries, rounds at 08:30 and 09:30; east 08:31, fountain 08:36, west skipped; east
09:31, fountain 09:36, west 09:47, late within the tolerance), through the pipeline as ``run``
drives it, the log posted over HTTP. Nobody downloads the wand that day: twelve hours after each
window the checkpoint is judged on what is in, nothing, and all six are raised missed. The
wand, set to UTC (eight hours behind the site's clock), is downloaded at the booth the next
morning. Before, its scans came after their rounds were settled and counted for nothing: the
six alerts stood, five of them for checkpoints the log shows walked. SQLite and PostgreSQL.
"""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.ledger.service import day_ledger
from tests.e2e.helpers import DAY_START
from tests.fixtures.nfc import wait_until
from tests.integration import test_wand_rounds as wand_morning
from tests.integration.test_wand_rounds import SITE, WALKED, WAND, _core
from tests.ledger.patrol_scenario import PATROLLER, TAGS, at, patrol_data

gateway = wand_morning.gateway  # the morning's site and API over HTTP, shared


def _utc_log() -> str:
    """The wand's CSV, its clock set to UTC: the times as UTC wall-clock readings."""
    lines = ["wand_id,tag_id,time"]
    for minute, checkpoint in sorted(WALKED.items()):
        lines.append(f"{WAND},{TAGS[checkpoint]},{at(minute):%Y-%m-%d %H:%M:%S}")
    return "\n".join(lines) + "\n"


def test_a_wand_downloaded_the_next_morning_withdraws_the_missed_alerts_it_shows_wrong(
    gateway: tuple[httpx.Client, ManualClock], engine: Engine
) -> None:
    http, clock = gateway
    clock.set(at(12 * 60 + 111))  # the last checkpoint's wait ran out at 21:50
    assert wait_until(lambda: len(_core(engine, "patrol.round_completed")) == 2)
    missed = [b["data"] for b in _core(engine, "alert.checkpoint_missed")]
    assert len(missed) == 6 and {d["judged_on"] for d in missed} == {"wait_ran_out"}

    clock.set(at(24 * 60 - 30))  # 07:30 the next morning
    # The download tool gives the wand's reading (23:30, UTC) with the site's offset.
    wand_now = clock.now().replace(tzinfo=None).isoformat()
    sent = http.post(
        f"/wands/{WAND}/downloads", content=_utc_log(), params={"wand_clock": f"{wand_now}+08:00"}
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["skew_s"] == 8 * 3600

    withdrawn = [b["data"] for b in _core(engine, "alert.withdrawn")]
    assert sorted((d["checkpoint_id"], d["round_start"]) for d in withdrawn) == sorted(
        [
            ("cp-east", at(30).isoformat()),
            ("cp-fountain", at(30).isoformat()),
            ("cp-east", at(90).isoformat()),
            ("cp-fountain", at(90).isoformat()),
            ("cp-west", at(90).isoformat()),
        ]
    )
    assert {d["reason"] for d in withdrawn} == {"scanned_in_window"}
    assert {d["withdrawn_type"] for d in withdrawn} == {"alert.checkpoint_missed"}
    west = next(d for d in withdrawn if d["checkpoint_id"] == "cp-west")
    assert west["scanned_at"] == at(107).isoformat() and west["late"] is True
    scanned = [d for kind, _, d in patrol_data(engine) if kind == "patrol.checkpoint_scanned"]
    assert [(d["counted"], d["reason"]) for d in scanned] == [(False, "round_settled")] * 5
    # The rounds keep the counts they gave; the day's ledger counts west of 08:30 missed only.
    ledger = day_ledger(engine, SITE, DAY_START.date(), at(24 * 60))
    [guard] = [g for g in ledger["guards"] if g["guard_id"] == PATROLLER[0]]
    assert guard["patrol"]["checkpoints_missed"] == 1
