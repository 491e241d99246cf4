"""A guard whose only device is an offline patrol wand: nobody hears him while he is on duty,
so the clock raises him absent at the shift start (not silent: he has no terminal that could
be; before, *terminal silent* fell for him every shift and stayed open), and his wand, downloaded at
the booth after the shift, is the first the gateway learns of where he was. Through the
pipeline as ``guard-gateway run`` drives it, the log posted to ``POST /wands/{id}/downloads``
over HTTP: a scan at his post dated before the absence fell withdraws it (``arrived_before``);
one only after it leaves it standing. Before, every piece of evidence that reached his
machine after the shift's end was ignored, and the absence stood in his record. SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import PresenceStateRow
from gateway.site.loader import load_site_file
from tests.e2e.helpers import alert_rows, outbox_rows
from tests.fixtures.api_server import api_over_http
from tests.fixtures.nfc import wait_until
from tests.integration.test_api_cli_and_run import configured, run_cli
from tests.integration.test_wand_rounds import WAND, _log, _wand_site
from tests.ledger.patrol_scenario import PATROLLER, at

GUARD = PATROLLER[0]

__all__ = ["configured"]  # the fixture, used by name


def _wand_only_site(tmp_path: Path) -> Path:
    """The patrol site, g-004 with his wand and no GPS terminal."""
    path = _wand_site(tmp_path)
    doc = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    site["devices"] = [d for d in site["devices"] if d["id"] != PATROLLER[2]]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _his_machine_closed(engine: Engine) -> bool:
    with Session(engine) as session:
        states = session.scalars(
            select(PresenceStateRow.state).where(PresenceStateRow.guard_id == GUARD)
        ).all()
    return len(states) == 1 and states[0]["closed"] is True


def _his(engine: Engine, type_: str) -> list[dict[str, Any]]:
    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    return [b for b in bodies if b["type"] == type_ and b["data"].get("guard_id") == GUARD]


@pytest.mark.parametrize(
    ("first_scan_min", "withdrawn"),
    [(6, True), (31, False)],
    ids=["scanned in at the booth at 08:06", "first scan on the 08:30 round"],
)
def test_his_wand_downloaded_after_the_shift_withdraws_an_absence_its_scans_show_wrong(
    engine: Engine, tmp_path: Path, first_scan_min: int, withdrawn: bool
) -> None:
    load_site_file(_wand_only_site(tmp_path), engine, at(-60))
    clock = ManualClock(at(-5))
    with api_over_http(engine, clock) as http:
        clock.set(at(11))
        assert wait_until(lambda: len(_his(engine, "alert.absent_at_shift_start")) == 1)
        clock.set(at(125))  # the shift ended at 10:00; the runtime closes his machine
        assert wait_until(lambda: _his_machine_closed(engine))
        walked = {first_scan_min: "cp-east", 36: "cp-fountain", 96: "cp-fountain"}
        sent = http.post(
            f"/wands/{WAND}/downloads",
            content=_log(walked),
            params={"wand_clock": clock.now().isoformat()},
        )
        assert sent.status_code == 201, sent.text
        assert sent.json()["stored"] == 3

    [absent] = _his(engine, "alert.absent_at_shift_start")
    assert absent["time"] == at(10).isoformat().replace("+00:00", "Z")
    # He is off duty: the download places him nowhere, so no time on post is counted.
    assert _his(engine, "presence.arrived") == []
    assert _his(engine, "alert.device_silent") == []
    found = _his(engine, "alert.withdrawn")
    [(opened, _, resolution)] = alert_rows(engine, "alert.absent_at_shift_start", GUARD)
    assert opened == at(10)
    if withdrawn:
        [withdrawal] = found
        assert withdrawal["data"]["withdrawn_type"] == "alert.absent_at_shift_start"
        assert withdrawal["data"]["reason"] == "arrived_before"
        assert withdrawal["data"]["arrived_at"] == at(first_scan_min).isoformat()
        assert resolution == "withdrawn"
    else:
        assert found == []
        assert resolution is None


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize("command", ["check", "load"])
def test_site_check_and_load_name_him_and_store_the_file_all_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # guard-gateway site check / site load (and run --site, which loads as site load does):
    # a valid file, with a notice that nothing reports where he is on duty.
    path = _wand_only_site(tmp_path)
    code, out, err = run_cli(capsys, "site", command, str(path))
    assert code == 0, err
    assert ("valid" if command == "check" else "stored site(s)") in out
    # (its clock-in terminal, bound to no address, has a notice of its own)
    [notice] = [line for line in err.splitlines() if "notice:" in line and GUARD in line]
    assert f"(id '{GUARD}'): nothing reports where he is while on duty" in notice
    assert "give him a GPS terminal" in notice
