"""The demo's story holds together: its site file is valid and wears every terminal the
scenario plays, the scripted times produce the kinds of event it expects, and the printer reads
the new alerts out in a line each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from fwsim.scenario import parse_scenario
from gateway.demo.cast import CAST, CHECKPOINTS
from gateway.demo.printer import LABELS, describe
from gateway.demo.roster import ROBOTS, robot_entries, roster_overlay, terminal_specs
from gateway.demo.run import EXPECTED
from gateway.samples import WUHAN_SITE
from gateway.site import validate_site_file

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in Wuhan
ANCHOR = {"lat": 30.6067, "lon": 114.2946}


def _site(tmp_path: Path) -> dict[str, Any]:
    sample = yaml.safe_load(WUHAN_SITE.read_text("utf-8"))
    readers = [f"/dev/ttyEM{i}" for i in range(len(CHECKPOINTS))]
    robots = robot_entries("http://127.0.0.1:9/wecom", "http://127.0.0.1:9/dingtalk")
    doc = roster_overlay(sample, readers, robots)
    path = tmp_path / "demo-site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    validate_site_file(path, NOW, {name for robot in ROBOTS for name in robot.secrets})
    site: dict[str, Any] = doc["sites"][0]
    return site


def test_demo_site_is_valid_and_every_terminal_it_plays_is_a_device_of_its_guard(
    tmp_path: Path,
) -> None:
    site = _site(tmp_path)
    specs = [spec for actor in CAST for spec in terminal_specs(actor, ANCHOR)]
    scenario = parse_scenario({"name": "demo", "terminals": specs})
    wire_ids = {
        f"{t.options.owntracks_user}/{t.options.owntracks_device}"
        if t.format == "owntracks"
        else t.device_id
        for t in scenario.terminals
    }
    worn = {d["id"]: d["guard"] for d in site["devices"] if d["kind"] == "gps"}
    assert wire_ids == set(worn)
    assert [d for d, g in worn.items() if g == "g-011"] == ["liuyang/phone", "13800000011"]
    badge = next(t for t in scenario.terminals if t.device_id == "13800000011")
    assert badge.format == "jt808" and badge.options.register
    short = next(s for s in site["shifts"] if s["guard"] == "g-012")
    assert (short["start"], short["end"]) == ("08:00", "09:30")


def test_the_late_report_is_dated_before_the_departure_and_typed_in_after_the_alert() -> None:
    actor = next(a for a in CAST if a.guard_id == "g-012")
    (report,) = actor.actions
    walks_out_min = actor.timeline[0]["stay"]["duration_s"] / 60 - 2  # the demo starts 07:58
    unreported_min = walks_out_min + 1 + 2  # confirmed within a minute, decided 2 min later
    assert report.params["reported_min"] < walks_out_min < unreported_min < report.at_min
    assert report.at_min < 90  # typed in before his shift ends at 09:30


def test_every_expected_kind_has_a_readable_label() -> None:
    assert set(EXPECTED) <= set(LABELS)
    for kind in ("alert.device_left_behind", "alert.left_early", "alert.withdrawn", "alert.sos"):
        assert kind in EXPECTED
        assert any("\u4e00" <= ch <= "\u9fff" for ch in LABELS[kind])  # Chinese and English


def _event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    base = {"guard_name": "马超", "post_name": "东门岗 (east vehicle gate)"}
    return {"type": kind, "time": "2026-03-02T01:18:40Z", "subject": "g-012", "data": base | data}


def test_new_alerts_read_as_one_line_each() -> None:
    left_behind = describe(
        _event(
            "alert.device_left_behind",
            {
                "left_device_id": "13800000011",
                "still_since": "2026-03-02T00:00:00Z",
                "away_device_id": "liuyang/phone",
                "apart_m": 134.2,
            },
        ),
        TZ,
    )
    assert left_behind.startswith("09:18:40  ALERT device left behind (设备遗留在岗)")
    assert left_behind.endswith(
        "13800000011 still on post since 08:00, liuyang/phone away, 134 m apart"
    )
    early = describe(
        _event(
            "alert.left_early",
            {"left_at": "2026-03-02T01:18:40Z", "shift_end": "2026-03-02T01:30:00Z"},
        ),
        TZ,
    )
    assert early.endswith("left at 09:18, not back by the shift end 09:30")
    withdrawn = describe(
        _event(
            "alert.withdrawn",
            {
                "withdrawn_type": "alert.unreported_departure",
                "reason": "report_on_record",
                "reported_at": "2026-03-02T01:17:00Z",
                "entered_at": "2026-03-02T01:24:00Z",
            },
        ),
        TZ,
    )
    assert withdrawn.endswith("unreported departure: report made 09:17, typed in 09:24")
    sos = describe(
        _event(
            "alert.sos", {"on_duty": True, "position": {"quality": "last_accepted", "age_s": 20}}
        ),
        TZ,
    )
    assert sos.endswith("no fix: the last accepted fix, 20 s old")
