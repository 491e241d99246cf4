"""Patrol and attendance storage on a real database (SQLite, and PostgreSQL when configured):
history stored once, lookups from tags, PINs and cards, rule state kept across a restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from alembic import command
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from gateway.db import patrol_repository as repo
from gateway.db.migrate import alembic_config, current, upgrade
from gateway.db.models import AttendanceStateRow, PatrolStateRow, PunchRow, ScanRow
from gateway.records import CheckpointScan, Punch, PunchKind, TagTechnology, VerifyMode
from gateway.rules import Tick
from gateway.rules.attendance import AttendanceState
from gateway.rules.patrol import step as patrol_step
from gateway.rules.patrol_policy import PatrolPolicy
from gateway.rules.patrol_state import PatrolState
from gateway.samples import WUHAN_SITE
from gateway.site import load_site_file
from gateway.site.loader import SiteYamlLoader
from gateway.site.schema import normalise_tag_id
from gateway.wand import import_wand_batch, parse_wand_csv

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 11:00 in Wuhan
T = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)

PATROL = {
    "checkpoints": [
        {"id": "cp-fountain", "name": "喷泉", "post": "jt-patrol-central", "tags": ["04A2241A"]},
        {"id": "cp-pavilion", "name": "凉亭", "post": "jt-patrol-central", "tags": ["0100ABCDEF"]},
    ],
    "routes": [
        {
            "id": "rt-garden",
            "post": "jt-patrol-central",
            "schedule": {"every_min": 60},
            "checkpoints": [
                {"checkpoint": "cp-fountain", "window_min": [0, 10]},
                {"checkpoint": "cp-pavilion", "window_min": [10, 20]},
            ],
        }
    ],
    "devices": [
        {"id": "zk-north", "kind": "clock_in", "post": "jt-gate-north", "sn": "CQZ1"},
        {
            "id": "em-gate",
            "kind": "em4100_reader",
            "post": "jt-gate-north",
            "punch_kind": "check_in",
        },
        {"id": "wand-01", "kind": "patrol_wand", "guard": "g-004"},
    ],
}


def load(engine: Engine, tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.load(WUHAN_SITE.read_bytes(), SiteYamlLoader)
    site = data["sites"][0]
    site["checkpoints"] = PATROL["checkpoints"]
    site["routes"] = PATROL["routes"]
    site["devices"] += PATROL["devices"]
    site["guards"][0]["pin"] = "1001"
    site["guards"][0]["cards"] = ["0004567890"]
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    load_site_file(path, engine, NOW)


def reader_scan(tag: str, minute: int) -> CheckpointScan:
    when = T + timedelta(minutes=minute)
    return CheckpointScan(
        "nfc-fountain", tag, when, when, TagTechnology.NFC_TYPE2, None, "nfcpy", f"uid {tag}"
    )


def punch(person: str, minute: int, terminal: str = "zk-north") -> Punch:
    when = T + timedelta(minutes=minute)
    return Punch(
        terminal, person, when, when, PunchKind.CHECK_IN, VerifyMode.FINGERPRINT, "zk_push", "x"
    )


def count(engine: Engine, model: Any) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_scans_are_stored_once_and_unknown_tags_are_kept(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    scans = [reader_scan("04A2241A", 1), reader_scan("04DEADBEEF", 2)]
    with Session(engine) as s, s.begin():
        assert repo.insert_scans(s, scans, checkpoint_ids=["cp-fountain", None]) == [True, True]
    again = [scans[0], reader_scan("0100ABCDEF", 3)]
    with Session(engine) as s, s.begin():
        stored = repo.insert_scans(s, again, checkpoint_ids=["cp-fountain", "cp-pavilion"])
        assert stored == [False, True]
    with Session(engine) as s:
        rows = s.scalars(select(ScanRow).order_by(ScanRow.scanned_at)).all()
        assert [(r.tag_id, r.checkpoint_id) for r in rows] == [
            ("04A2241A", "cp-fountain"),
            ("04DEADBEEF", None),
            ("0100ABCDEF", "cp-pavilion"),
        ]
        assert rows[0].scanned_at == T + timedelta(minutes=1)


def test_a_wand_downloaded_twice_stores_each_scan_once(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    text = (
        "wand_id,tag_id,time\n"
        "wand-01,04A2241A,2026-03-02T12:01:00\n"
        "wand-01,0100abcdef,2026-03-02T12:12:00\n"
    )
    records, _ = parse_wand_csv(text)
    for download_at in (T + timedelta(hours=1), T + timedelta(hours=2)):
        with Session(engine) as s, s.begin():
            result = import_wand_batch(
                records,
                wand_id="wand-01",
                wand_clock_at_download=download_at.replace(tzinfo=None) + timedelta(hours=8),
                gateway_clock_at_download=download_at,
            )
            known = repo.known_scan_keys(s, result.keys)
            new = [k not in known for k in result.keys]
            stored = repo.insert_scans(
                s,
                list(result.scans),
                checkpoint_ids=[None] * len(result.scans),
                keys=list(result.keys),
                guard_id="g-004",
            )
            assert stored == new
    assert count(engine, ScanRow) == 2


def test_a_terminal_pushing_the_same_punch_twice_stores_it_once(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path)
    with Session(engine) as s, s.begin():
        assert repo.insert_punches(s, [punch("1001", 1), punch("9999", 2)]) == [True, True]
    with Session(engine) as s, s.begin():
        assert repo.insert_punches(s, [punch("1001", 1), punch("1001", 3)]) == [False, True]
    with Session(engine) as s:
        rows = s.scalars(select(PunchRow).order_by(PunchRow.punched_at)).all()
        assert [(r.person_id, r.guard_id) for r in rows] == [
            ("1001", "g-001"),
            ("9999", None),
            ("1001", "g-001"),
        ]


def test_tags_pins_and_cards_lead_to_checkpoints_and_guards(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    with Session(engine) as s:
        tags, _routes = repo.checkpoint_index(s)
        assert tags[normalise_tag_id("04:a2:24:1a")] == ("cp-fountain", "jt-patrol-central")
        assert normalise_tag_id("04DEADBEEF") not in tags
        assert repo.guard_for_pin(s, "wh-jiangtan-garden", "1001") == "g-001"
        assert repo.guard_for_pin(s, "wh-jiangtan-garden", "1002") is None
        assert repo.guard_for_card(s, "wh-jiangtan-garden", "0004567890") == "g-001"
        assert repo.guard_for_person(s, "zk-north", "1001") == "g-001"
        # A card reader acting as a clock-in terminal names the guard by his card.
        assert repo.guard_for_person(s, "em-gate", "0004567890") == "g-001"
        assert repo.guard_for_person(s, "em-gate", "1001") is None
        assert repo.guard_for_person(s, "no-such-terminal", "1001") is None


def test_route_plans_and_patrol_state_survive_a_restart(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    with Session(engine) as s:
        [plan] = repo.route_plans_for_post(s, "jt-patrol-central")
    assert [c.checkpoint_id for c in plan.checkpoints] == ["cp-fountain", "cp-pavilion"]
    assert (plan.every_s, plan.ordered, plan.timezone) == (3600.0, True, "Asia/Shanghai")
    state = PatrolState.start(
        plan,
        shift_id="g-004/jt-patrol-central/20260302T000000Z",
        guard_id="g-004",
        site_id="wh-jiangtan-garden",
        shift_start=T,
        shift_end=T + timedelta(hours=2),
    )
    with Session(engine) as s, s.begin():
        repo.save_patrol_state(
            s,
            machine_id=state.machine_id,
            shift_id=state.shift_id,
            route_id=state.route_id,
            state=state.to_json(),
            next_deadline=state.next_deadline,
            now=T,
        )
    with Session(engine) as s:
        row = s.get(PatrolStateRow, state.machine_id)
        assert row is not None
        assert row.next_deadline == T + timedelta(minutes=10)
        stored = dict(row.state)
    restored = PatrolState.from_json(stored)
    assert restored == state
    _, events = patrol_step(restored, Tick(), T + timedelta(minutes=10), PatrolPolicy())
    assert [e.type for e in events] == ["alert.checkpoint_missed"]


def test_attendance_state_is_saved_and_replaced(engine: Engine) -> None:
    state = AttendanceState.start(
        "sh-1", "g-001", "jt-gate-north", "site", T, T + timedelta(hours=12)
    )
    with Session(engine) as s, s.begin():
        repo.save_attendance_state(
            s, shift_id="sh-1", guard_id="g-001", state=state.to_json(), next_deadline=T, now=T
        )
        repo.save_attendance_state(
            s, shift_id="sh-1", guard_id="g-001", state=state.to_json(), next_deadline=None, now=T
        )
    with Session(engine) as s:
        row = s.get(AttendanceStateRow, "sh-1")
        assert row is not None and row.next_deadline is None
        loaded = dict(row.state)
    assert AttendanceState.from_json(loaded) == state


def test_migration_0002_downgrades_and_upgrades_again(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    assert current(engine) == "0001"
    tables = set(inspect(engine).get_table_names())
    assert "scans" not in tables and "punches" not in tables
    assert "url" not in {c["name"] for c in inspect(engine).get_columns("devices")}
    upgrade(engine, "0002")
    assert current(engine) == "0002"
    assert {"scans", "punches", "checkpoints", "routes"} <= set(inspect(engine).get_table_names())
