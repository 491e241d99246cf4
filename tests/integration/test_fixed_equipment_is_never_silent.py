"""Only a terminal the guard wears can go silent, through the gateway as ``guard-gateway run``
wires it (``push_rig``: the ZKTeco PUSH terminal of the north gate over real HTTP, the
pipeline thread, the record outbox, a manual clock), on SQLite and PostgreSQL.

g-001 keeps the north gate 08:00-10:00, whose clock-in terminal ``zk-gate`` stands at his post.
Before, that terminal counted as a device heard all the time: a guard with no GPS terminal was
raised ``alert.device_silent`` 10 minutes after every punch, shown silent on the live page, and
the end of his shift waited the silence limit for an upload that never comes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.db.models import PresenceStateRow
from gateway.site.loader import load_site_file
from tests.fixtures.api_tokens import bearer, new_token
from tests.integration.test_attendance_push_in_run import (
    BREAK_IN,
    CHECK_IN,
    GPS,
    GUARD,
    Rig,
    local,
    push_rig,
)
from tests.ledger.patrol_scenario import at

SHIFT = [{"post": "jt-gate-north", "start": "08:00", "end": "10:00"}]
SHIFT_ID = f"{GUARD}/jt-gate-north/20260302T000000Z"


def presence_and_alerts(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [t for t, _ in events if t.startswith(("presence.", "alert."))]


def whereabouts_of_guard(rig: Rig) -> dict[str, Any]:
    token = new_token(rig.gateway.engine)
    answer = httpx.get(rig.url + "/map/whereabouts", headers=bearer(token), timeout=10)
    assert answer.status_code == 200
    mine = [g for g in answer.json()["guards"] if g["guard_id"] == GUARD]
    assert len(mine) == 1
    return dict(mine[0])


def test_a_guard_seen_only_by_the_gate_terminal_is_never_silent(
    db_url: str, tmp_path: Path
) -> None:
    # In at 07:58, nothing more until 09:30: on post, never silent, on the live page either.
    with push_rig(db_url, tmp_path, SHIFT, gps=False) as rig:
        rig.run(range(-3, 90), {-2: [(CHECK_IN, local(-2))]}, lambda m: None)
        assert presence_and_alerts(rig.events()) == ["presence.arrived"]
        live = whereabouts_of_guard(rig)
        assert (live["state"], live["silent"]) == ("on_post", False)


def test_a_gps_terminal_gone_quiet_beside_the_punches_is_silent_as_before(
    db_url: str, tmp_path: Path
) -> None:
    # His GPS terminal inside until 08:30 (its fix received a second after), then quiet; a
    # break-in at the gate at 09:00 is news of him (resumed), but the terminal he wears stays
    # quiet and is silent again at 09:10, naming that terminal alone.
    with push_rig(db_url, tmp_path, SHIFT) as rig:
        rig.run(
            range(-3, 75),
            {-2: [(CHECK_IN, local(-2))], 60: [(BREAK_IN, local(60))]},
            lambda m: "inside" if m <= 30 else None,
        )
        events = rig.events()
        assert presence_and_alerts(events) == [
            "presence.arrived",
            "alert.device_silent",
            "presence.device_resumed",
            "alert.device_silent",
        ]
        silences = [d for t, d in events if t == "alert.device_silent"]
        assert [(d["silent_since"], d["device_ids"]) for d in silences] == [
            ("2026-03-02T00:30:01+00:00", [GPS]),
            ("2026-03-02T01:00:06+00:00", [GPS]),
        ]
        assert whereabouts_of_guard(rig)["silent"] is True


def test_a_gps_terminal_taken_out_of_the_file_mid_shift_leaves_nothing_to_be_silent(
    db_url: str, tmp_path: Path
) -> None:
    # His GPS terminal inside until 08:30, when a load takes it out of the file: the gate
    # terminal left is no terminal he wears, nothing is silent after, the end waits for nothing.
    with push_rig(db_url, tmp_path, SHIFT) as rig:
        rig.run(range(-3, 31), {-2: [(CHECK_IN, local(-2))]}, lambda m: "inside")
        assert rig.site is not None
        doc: dict[str, Any] = yaml.safe_load(rig.site.read_text("utf-8"))
        site = doc["sites"][0]
        site["devices"] = [d for d in site["devices"] if d["id"] != GPS]
        rig.site.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
        load_site_file(rig.site, rig.gateway.engine, rig.clock.now())
        _wait_for_devices(rig, ("zk-gate",))
        rig.run(range(31, 125), {}, lambda m: None)
        events = rig.events()
        assert presence_and_alerts(events) == ["presence.arrived"]


def test_a_state_saved_before_the_upgrade_raises_no_silence_for_the_gate_terminal(
    db_url: str, tmp_path: Path
) -> None:
    # In at 07:58; the gateway stops at 08:05, its saved state in the form of before (no
    # worn terminals kept: the gate terminal was taken for one), and is started at 08:12,
    # past the 08:08 its silence would have fallen at: it falls neither then nor later.
    def as_before(engine: Engine) -> None:
        with Session(engine) as session:
            row = session.scalars(
                select(PresenceStateRow).where(PresenceStateRow.shift_id == SHIFT_ID)
            ).one()
            state = dict(row.state)
            assert state["worn"] == []
            del state["worn"]
            row.state = state
            session.commit()

    with push_rig(db_url, tmp_path, SHIFT, gps=False) as rig:
        rig.run(range(-3, 5), {-2: [(CHECK_IN, local(-2))]}, lambda m: None)
        rig.restart(at(12), as_before)
        rig.run(range(12, 125), {}, lambda m: None)
        events = rig.events()
        assert presence_and_alerts(events) == ["presence.arrived"]


def _wait_for_devices(rig: Rig, device_ids: tuple[str, ...]) -> None:
    """Until the running gateway's roster gives the shift ``device_ids`` (its roster reader
    checks for a site load every few seconds of wall time)."""
    for _ in range(300):
        duty = rig.gateway.processor.duties.duty(SHIFT_ID)
        if duty is not None and duty.device_ids == device_ids:
            return
        time.sleep(0.05)
    raise AssertionError(f"the roster never gave {SHIFT_ID} the devices {device_ids}")
