"""A silence left open for a terminal the guard no longer wears is withdrawn when the gateway
learns it, through the gateway as ``guard-gateway run`` wires it (``push_rig``: the ZKTeco PUSH
terminal of the north gate over real HTTP, the pipeline thread, the record outbox, a manual
clock), on SQLite and PostgreSQL.

Only the GPS terminals a guard wears can go silent. Before, a silence raised for the gate's
clock-in terminal by a version that took it for a worn one, or for a GPS terminal a site load
then took from the guard, stayed open on ``/alerts`` and the live page until a punch happened
to resume it, or for ever: nothing could be heard from a terminal no longer his.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.db.models import PresenceStateRow
from gateway.pipeline.duty_parts import DutyDevices
from gateway.site.loader import load_site_file
from tests.fixtures.api_tokens import bearer, new_token
from tests.integration.test_attendance_push_in_run import CHECK_IN, GPS, GUARD, Rig, local, push_rig
from tests.integration.test_fixed_equipment_is_never_silent import (
    SHIFT,
    SHIFT_ID,
    _wait_for_devices,
    presence_and_alerts,
)
from tests.ledger.patrol_scenario import at


def silences_on_alerts_page(rig: Rig) -> list[dict[str, Any]]:
    token = new_token(rig.gateway.engine)
    answer = httpx.get(
        rig.url + "/alerts", params={"guard_id": GUARD}, headers=bearer(token), timeout=10
    )
    assert answer.status_code == 200
    return [a for a in answer.json() if a["type"] == "alert.device_silent"]


def the_withdrawal(rig: Rig) -> dict[str, Any]:
    endings = [
        d
        for t, d in rig.events()
        if t in ("alert.withdrawn", "presence.device_resumed", "alert.resolved")
    ]
    assert len(endings) == 1, endings
    return endings[0]


def test_a_silence_raised_for_the_gate_terminal_before_the_upgrade_ends_at_the_restart(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The version before took every device at his post but the wands for worn: in at 07:58,
    # the gate terminal quiet after, raised silent at 08:10. Stopped at 08:15, its state saved
    # in the form of then, it is started at 08:20 by this version: the silence is withdrawn
    # then, once, and nothing is silent after.
    def worn_as_before(self: DutyDevices, guard_id: str, post_id: str) -> Any:
        device_ids, wands, _ = original(self, guard_id, post_id)
        return device_ids, wands, tuple(d for d in device_ids if d not in wands)

    def as_before(engine: Engine) -> None:
        with Session(engine) as session:
            row = session.scalars(
                select(PresenceStateRow).where(PresenceStateRow.shift_id == SHIFT_ID)
            ).one()
            state = dict(row.state)
            assert state["worn"] == ["zk-gate"]
            del state["worn"]
            row.state = state
            session.commit()

    original = DutyDevices.of_duty
    monkeypatch.setattr(DutyDevices, "of_duty", worn_as_before)
    with push_rig(db_url, tmp_path, SHIFT, gps=False) as rig:
        rig.run(range(-3, 15), {-2: [(CHECK_IN, local(-2))]}, lambda m: None)
        assert presence_and_alerts(rig.events()) == ["presence.arrived", "alert.device_silent"]
        monkeypatch.undo()
        rig.restart(at(20), as_before)
        rig.run(range(20, 125), {}, lambda m: None)
        assert presence_and_alerts(rig.events()) == [
            "presence.arrived",
            "alert.device_silent",
            "alert.withdrawn",
        ]
        ended = the_withdrawal(rig)
        assert (ended["withdrawn_type"], ended["reason"]) == ("alert.device_silent", "not_worn")
        assert [a["status"] for a in silences_on_alerts_page(rig)] == ["resolved"]


def test_a_silence_of_a_gps_terminal_a_load_takes_from_the_guard_ends_at_the_load(
    db_url: str, tmp_path: Path
) -> None:
    # His GPS terminal inside until 08:30, quiet after: silent at 08:40. At 08:50 a load takes
    # it out of the file: the silence is withdrawn then, once; the gate terminal left is no
    # terminal he wears, nothing is silent after.
    with push_rig(db_url, tmp_path, SHIFT) as rig:
        rig.run(
            range(-3, 50),
            {-2: [(CHECK_IN, local(-2))]},
            lambda m: "inside" if m <= 30 else None,
        )
        assert presence_and_alerts(rig.events()) == ["presence.arrived", "alert.device_silent"]
        assert rig.site is not None
        doc: dict[str, Any] = yaml.safe_load(rig.site.read_text("utf-8"))
        site = doc["sites"][0]
        site["devices"] = [d for d in site["devices"] if d["id"] != GPS]
        rig.site.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
        load_site_file(rig.site, rig.gateway.engine, rig.clock.now())
        _wait_for_devices(rig, ("zk-gate",))
        rig.run(range(50, 125), {}, lambda m: None)
        assert presence_and_alerts(rig.events()) == [
            "presence.arrived",
            "alert.device_silent",
            "alert.withdrawn",
        ]
        ended = the_withdrawal(rig)
        assert (ended["withdrawn_type"], ended["reason"]) == ("alert.device_silent", "not_worn")
        assert ended["worn"] == []
        assert [a["status"] for a in silences_on_alerts_page(rig)] == ["resolved"]
