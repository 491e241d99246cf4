"""The site file's patrol and attendance part: checkpoints, routes, PINs and cards, readers and
terminals; accepted when consistent, refused naming every misplaced part."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.db.models import (
    CheckpointRow,
    CheckpointTagRow,
    DeviceRow,
    GuardCredentialRow,
    RouteCheckpointRow,
    RouteRow,
)
from gateway.errors import ConfigError
from gateway.samples import WUHAN_SITE
from gateway.site import load_site_file, validate_site_file
from gateway.site.loader import SiteYamlLoader
from gateway.site.schema import normalise_tag_id

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)

PATROL_PART = """
policy: {clock_in_grace_s: 600, patrol_late_tolerance_s: 120, scan_debounce_s: 5}
checkpoints:
  - {id: cp-fountain, name: 喷泉, post: jt-patrol-central, tags: ["04:a2:24:1a:6b:1c:80"]}
  - {id: cp-pavilion, name: 凉亭, post: jt-patrol-central, tags: ["0100ABCDEF", "12:3456"]}
  - {id: cp-garage, name: 车库, post: jt-garage-b1, tags: ["04B1C2D3"]}
routes:
  - id: rt-garden
    name: 中心花园巡逻
    post: jt-patrol-central
    schedule: {every_min: 60, offset_min: 5}
    checkpoints:
      - {checkpoint: cp-fountain, window_min: [0, 10]}
      - {checkpoint: cp-pavilion, window_min: [10, 25]}
  - id: rt-garden-night
    post: jt-patrol-central
    ordered: false
    schedule: {times: ["22:00", "02:00"]}
    checkpoints:
      - {checkpoint: cp-pavilion, window_min: [0, 15]}
devices:
  - {id: nfc-fountain, kind: nfc_reader, post: jt-patrol-central, url: "tty:USB0:pn532"}
  - {id: em-gate, kind: em4100_reader, post: jt-gate-north, url: /dev/ttyUSB1,
     variant: rdm6300, punch_kind: check_in}
  - {id: zk-control-room, kind: clock_in, post: jt-control-room, sn: CQZ7231460123,
     url: "push", timezone: Asia/Shanghai}
  - {id: wand-01, kind: patrol_wand, guard: g-004, timezone: Asia/Shanghai}
guards:
  g-001: {pin: 1001, cards: ["0004567890"]}
  g-004: {pin: "1004"}
"""


def site_with_patrol() -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(WUHAN_SITE.read_bytes(), SiteYamlLoader)
    part = yaml.load(PATROL_PART, SiteYamlLoader)
    site = data["sites"][0]
    site["policy"] = part["policy"]
    site["checkpoints"] = part["checkpoints"]
    site["routes"] = part["routes"]
    site["devices"] += part["devices"]
    for guard in site["guards"]:
        guard.update(part["guards"].get(guard["id"], {}))
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_site_file(write(tmp_path, data), NOW)
    return str(caught.value)


def test_site_with_checkpoints_routes_pins_and_readers_loads(
    engine: Engine, tmp_path: Path
) -> None:
    summary = load_site_file(write(tmp_path, site_with_patrol()), engine, NOW)
    assert (summary.checkpoints, summary.routes, summary.devices) == (3, 2, 14)
    with Session(engine) as s:
        tags = dict(
            s.execute(select(CheckpointTagRow.tag_id, CheckpointTagRow.checkpoint_id))
            .tuples()
            .all()
        )
        assert tags == {
            "04A2241A6B1C80": "cp-fountain",
            "0100ABCDEF": "cp-pavilion",
            "12:3456": "cp-pavilion",
            "04B1C2D3": "cp-garage",
        }
        garden = s.get(RouteRow, "rt-garden")
        assert garden is not None
        assert (garden.ordered, garden.every_s, garden.offset_s, garden.times) == (
            True,
            3600.0,
            300.0,
            [],
        )
        night = s.get(RouteRow, "rt-garden-night")
        assert night is not None
        assert (night.ordered, night.every_s, night.times) == (False, None, ["22:00", "02:00"])
        steps = s.execute(
            select(
                RouteCheckpointRow.position,
                RouteCheckpointRow.checkpoint_id,
                RouteCheckpointRow.window_start_s,
                RouteCheckpointRow.window_end_s,
            )
            .where(RouteCheckpointRow.route_id == "rt-garden")
            .order_by(RouteCheckpointRow.position)
        ).all()
        assert [tuple(r) for r in steps] == [
            (0, "cp-fountain", 0.0, 600.0),
            (1, "cp-pavilion", 600.0, 1500.0),
        ]
        creds = set(
            s.execute(
                select(
                    GuardCredentialRow.kind, GuardCredentialRow.value, GuardCredentialRow.guard_id
                )
            ).tuples()
        )
        assert creds == {
            ("pin", "1001", "g-001"),
            ("card", "0004567890", "g-001"),
            ("pin", "1004", "g-004"),
        }
        gate = s.get(DeviceRow, "em-gate")
        assert gate is not None
        assert (gate.url, gate.variant, gate.punch_kind) == ("/dev/ttyUSB1", "rdm6300", "check_in")
        zk = s.get(DeviceRow, "zk-control-room")
        assert zk is not None
        assert (zk.serial_number, zk.timezone) == ("CQZ7231460123", "Asia/Shanghai")


def test_reloading_without_the_patrol_part_removes_it(engine: Engine, tmp_path: Path) -> None:
    load_site_file(write(tmp_path, site_with_patrol()), engine, NOW)
    plain: dict[str, Any] = yaml.load(WUHAN_SITE.read_bytes(), SiteYamlLoader)
    load_site_file(write(tmp_path, plain), engine, NOW)
    with Session(engine) as s:
        for model in (CheckpointRow, CheckpointTagRow, RouteRow, RouteCheckpointRow):
            assert s.scalars(select(model)).first() is None


def test_consistency_problems_are_all_named_with_their_place(tmp_path: Path) -> None:
    data = site_with_patrol()
    site = data["sites"][0]
    site["checkpoints"][2]["post"] = "jt-nowhere"
    site["checkpoints"][2]["tags"] = ["0100abcdef"]  # the pavilion's tag, in lower case
    site["routes"][0]["checkpoints"].append({"checkpoint": "cp-ghost", "window_min": [25, 30]})
    site["routes"][0]["checkpoints"].append({"checkpoint": "cp-fountain", "window_min": [40, 30]})
    site["routes"][1]["post"] = "jt-gate-east"
    site["guards"][1]["pin"] = "1001"
    site["guards"][2]["cards"] = ["04B1C2D3", "0100ABCDEF"]
    message = problems_of(tmp_path, data)
    for expected in [
        "sites[0].checkpoints[2] (id 'cp-garage'): at unknown post 'jt-nowhere'",
        "sites[0].checkpoints[2] (id 'cp-garage'): tag '0100ABCDEF' is used twice "
        "(first at sites[0].checkpoints[1] (id 'cp-pavilion'))",
        "sites[0].routes[0] (id 'rt-garden').checkpoints[2]: unknown checkpoint 'cp-ghost'",
        "sites[0].routes[0] (id 'rt-garden').checkpoints[3].window_min: start 40.0 is after "
        "end 30.0",
        "sites[0].routes[0] (id 'rt-garden').checkpoints[3]: checkpoint 'cp-fountain' is "
        "listed twice",
        "sites[0].routes[1] (id 'rt-garden-night').checkpoints[0]: checkpoint 'cp-pavilion' "
        "is at post 'jt-patrol-central', not at the route's post 'jt-gate-east'",
        "sites[0].guards[1] (id 'g-002').pin: '1001' is also the PIN of sites[0].guards[0] "
        "(id 'g-001')",
        "sites[0].guards[2] (id 'g-003').cards: '0100ABCDEF' is also a checkpoint tag",
    ]:
        assert expected in message


def test_device_settings_must_fit_the_kind_of_device(tmp_path: Path) -> None:
    data = site_with_patrol()
    devices = data["sites"][0]["devices"]
    zk = next(d for d in devices if d["id"] == "zk-control-room")
    zk["punch_kind"] = "check_in"
    zk["timezone"] = "Mars/Olympus"
    devices.append({"id": "zk-2", "kind": "clock_in", "sn": "CQZ7231460123"})
    devices.append({"id": "nfc-2", "kind": "nfc_reader", "variant": "rdm6300"})
    message = problems_of(tmp_path, data)
    assert "(id 'zk-control-room').timezone: unknown time zone 'Mars/Olympus'" in message
    assert "(id 'zk-control-room').punch_kind: only a card reader" in message
    assert "(id 'zk-2'): serial number 'CQZ7231460123' is used twice" in message
    assert "(id 'nfc-2').variant: only an em4100_reader or a patrol_wand has variants" in message


def test_only_a_push_terminal_is_bound_to_an_address_and_it_must_be_one(tmp_path: Path) -> None:
    data = site_with_patrol()
    devices = data["sites"][0]["devices"]
    devices.append({"id": "zk-2", "kind": "clock_in", "sn": "ZK2", "address": "10.0.0.5/28"})
    assert "(id 'zk-2').address[0]: Value error, '10.0.0.5/28' is neither an IP address" in (
        problems_of(tmp_path, data)
    )
    devices[-1]["address"] = ["10.0.0.0/28", "10.0.1.7"]
    devices.append({"id": "zk-3", "kind": "clock_in", "url": "tcp://10.0.0.9:4370"})
    devices[-1]["address"] = "10.0.0.9"
    devices.append({"id": "nfc-2", "kind": "nfc_reader", "address": "10.0.0.7"})
    message = problems_of(tmp_path, data)
    assert "(id 'zk-3').address: only a clock_in terminal pushing by its serial number" in message
    assert "(id 'nfc-2').address: only a clock_in terminal pushing" in message
    assert "zk-2" not in message


def test_schedule_needs_exactly_one_kind_and_readable_times(tmp_path: Path) -> None:
    data = site_with_patrol()
    data["sites"][0]["routes"][0]["schedule"] = {"every_min": 60, "times": ["22:00"]}
    assert "routes[0] (id 'rt-garden').schedule: Value error, give exactly one of every_min " in (
        problems_of(tmp_path, data)
    )
    data = site_with_patrol()
    data["sites"][0]["routes"][1]["schedule"] = {"times": ["25:00"]}
    assert "(id 'rt-garden-night').schedule.times: '25:00' is not a time of day (HH:MM)" in (
        problems_of(tmp_path, data)
    )
    data = site_with_patrol()
    data["sites"][0]["routes"][0]["schedule"] = {"every_min": 20}
    assert "rounds every 20 min but a round lasts 25 min" in problems_of(tmp_path, data)


def test_malformed_tags_and_unknown_fields_are_refused_by_shape(tmp_path: Path) -> None:
    data = site_with_patrol()
    data["sites"][0]["checkpoints"][0]["tags"] = ["hello"]
    data["sites"][0]["checkpoints"][1]["tag"] = "0100ABCDEF"
    message = problems_of(tmp_path, data)
    assert "checkpoints[0] (id 'cp-fountain').tags[0]: Value error, tag id 'hello'" in message
    assert "checkpoints[1] (id 'cp-pavilion').tag: unknown field (misspelt?)" in message


def test_patrol_policy_fields_are_accepted_and_others_still_refused(tmp_path: Path) -> None:
    data = site_with_patrol()
    validate_site_file(write(tmp_path, data), NOW)
    bad = copy.deepcopy(data)
    bad["sites"][0]["policy"]["clock_in_grace"] = 1
    assert "policy.clock_in_grace: unknown policy field" in problems_of(tmp_path, bad)


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("04:a2:24:1a", "04A2241A"),
        ("04 A2 24 1A 6B 1C 80", "04A2241A6B1C80"),
        ("0100abcdef", "0100ABCDEF"),
        ("012:00345", "12:345"),
    ],
)
def test_tag_ids_have_one_written_form(written: str, normal: str) -> None:
    assert normalise_tag_id(written) == normal


@pytest.mark.parametrize("written", ["ABC", "04A2241", "GG00AABB", "1:2:3", ""])
def test_tag_ids_that_are_no_tag_are_refused(written: str) -> None:
    with pytest.raises(ValueError, match="tag id"):
        normalise_tag_id(written)
