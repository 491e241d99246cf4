"""A guard out at the end of his shift by his GPS terminal, whose offline patrol wand,
downloaded after the shift, shows him back on post before it: the alerts the clock raised that
the wand's scans show wrong are withdrawn (``gateway.rules.late_return``). Through the pipeline
as ``guard-gateway run`` drives it: the terminal's fixes handed to the runtime as the MQTT
ingest hands them over, the runtime ticking the rules, the wand's log posted to
``POST /wands/{id}/downloads`` over HTTP. SQLite and PostgreSQL.

The patrol site of ``tests.ledger.patrol_scenario``: g-004 at the central garden 08:00-10:00,
with his GPS terminal and his wand. On post to 09:19, out from 09:20; his terminal's battery
dies at 09:25, out there. The clock raises *overtime* at 09:35 and, the end's wait for a quiet
terminal over, *left early* at 10:10. His wand holds his scans of the 09:30 round.
Before, the download after the shift was history: both alerts stood.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.records import DecodeOutcome
from gateway.site.loader import load_site_file
from tests.e2e.helpers import alert_rows, fix_at, outbox_rows, post_points
from tests.fixtures.api_server import runtime_and_api_over_http
from tests.fixtures.nfc import wait_until
from tests.integration.test_wand_only_presence import _his_machine_closed
from tests.integration.test_wand_rounds import WAND, _log, _wand_site
from tests.ledger.patrol_scenario import PATROLLER, at

GUARD, POST, TERMINAL = PATROLLER


def _his(engine: Engine, type_: str) -> list[dict[str, Any]]:
    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    return [b for b in bodies if b["type"] == type_ and b["data"].get("guard_id") == GUARD]


@pytest.mark.parametrize(
    ("walked", "withdrawn"),
    [
        ({31: "cp-fountain", 91: "cp-east", 96: "cp-fountain"}, ["overtime", "left_early"]),
        ({31: "cp-fountain", 107: "cp-west"}, ["left_early"]),
        ({31: "cp-fountain", 71: "cp-east"}, []),
    ],
    ids=["back at 09:31", "back at 09:47, after the overtime fell", "no scan after he left"],
)
def test_his_wand_downloaded_after_the_shift_withdraws_what_its_scans_show_wrong(
    engine: Engine, tmp_path: Path, walked: dict[int, str], withdrawn: list[str]
) -> None:
    load_site_file(_wand_site(tmp_path), engine, at(-60))
    points = post_points(engine, POST)
    clock = ManualClock(at(-5))
    with runtime_and_api_over_http(engine, clock) as (runtime, http):
        for minute in range(86):
            clock.set(at(minute + 0.1))
            where = points.inside if minute < 80 else points.outside
            runtime.submit(DecodeOutcome(fixes=(fix_at(TERMINAL, at(minute), where),)))
            assert runtime.wait_idle()
        for minute in (95, 111, 131):  # the runtime ticks; the end waits to 10:10
            clock.set(at(minute))
            assert runtime.wait_idle()
        assert wait_until(lambda: len(_his(engine, "alert.left_early")) == 1)
        clock.set(at(245))  # 12:05: the machine closed, the wand brought back to the booth
        assert wait_until(lambda: _his_machine_closed(engine))
        sent = http.post(
            f"/wands/{WAND}/downloads",
            content=_log(walked),
            params={"wand_clock": clock.now().isoformat()},
        )
        assert sent.status_code == 201, sent.text
        assert sent.json()["stored"] == len(walked)
        assert runtime.wait_idle()

    types = {"overtime": "alert.overtime_departure", "left_early": "alert.left_early"}
    assert [len(_his(engine, type_)) for type_ in types.values()] == [1, 1]
    found = _his(engine, "alert.withdrawn")
    assert [w["data"]["withdrawn_type"] for w in found] == [types[name] for name in withdrawn]
    # His first scan after his terminal's last fix outside (09:25) is his return.
    back_at = at(min((m for m in walked if m > 85), default=0))
    for withdrawal in found:
        assert withdrawal["data"]["reason"] == "returned_before"
        assert withdrawal["data"]["returned_at"] == back_at.isoformat()
    for name, type_ in types.items():
        [(_, _, resolution)] = alert_rows(engine, type_, GUARD)
        assert resolution == ("withdrawn" if name in withdrawn else None)
    # Off duty by the download: no return is recorded from it.
    assert _his(engine, "presence.returned") == []
