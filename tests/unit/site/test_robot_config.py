"""The site file's group robots: stored with their references (never secrets), refused naming
every misfit, and their secrets required where the settings are at hand."""

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

from gateway.errors import ConfigError
from gateway.outbox.tables import RobotRow
from gateway.samples import WUHAN_SITE
from gateway.site import load_site_file, validate_site_file
from gateway.site.loader import SiteYamlLoader

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)

ROBOTS = """
- {id: jt-wecom-a, name: A班组, kind: wecom, webhook_ref: jt-wecom-a-key, teams: [A]}
- {id: jt-ding-b, name: B班组 陈志强, kind: dingtalk, webhook_ref: jt-ding-b-token,
   secret_ref: jt-ding-b-sign, leaders: [jt-leader-b], url: "http://127.0.0.1:9100/robot/send"}
- {id: jt-site, name: 项目部, kind: wecom, webhook_ref: jt-site-key}
"""
SECRETS = {"jt-wecom-a-key", "jt-ding-b-token", "jt-ding-b-sign", "jt-site-key"}


def site_with_robots() -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(WUHAN_SITE.read_bytes(), SiteYamlLoader)
    data["sites"][0]["robots"] = yaml.safe_load(ROBOTS)
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, data: dict[str, Any], secrets: set[str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_site_file(write(tmp_path, data), NOW, secrets)
    return str(caught.value)


def test_robots_are_stored_with_their_references_and_routing(
    engine: Engine, tmp_path: Path
) -> None:
    summary = load_site_file(write(tmp_path, site_with_robots()), engine, NOW, SECRETS)
    assert summary.robots == 3
    with Session(engine) as session:
        rows = {r.id: r for r in session.scalars(select(RobotRow))}
    assert set(rows) == {"jt-wecom-a", "jt-ding-b", "jt-site"}
    ding = rows["jt-ding-b"]
    assert (ding.kind, ding.name, ding.webhook_ref, ding.secret_ref) == (
        "dingtalk",
        "B班组 陈志强",
        "jt-ding-b-token",
        "jt-ding-b-sign",
    )
    assert ding.leader_ids == ["jt-leader-b"] and ding.teams == []
    assert rows["jt-wecom-a"].teams == ["A"] and rows["jt-wecom-a"].url is None


def test_a_reload_without_robots_removes_them(engine: Engine, tmp_path: Path) -> None:
    load_site_file(write(tmp_path, site_with_robots()), engine, NOW)
    data = site_with_robots()
    data["sites"][0]["robots"] = data["sites"][0]["robots"][:1]
    load_site_file(write(tmp_path, data), engine, NOW)
    with Session(engine) as session:
        assert list(session.scalars(select(RobotRow.id))) == ["jt-wecom-a"]


def test_misfit_robots_are_refused_each_named_by_its_place(tmp_path: Path) -> None:
    data = site_with_robots()
    robots = data["sites"][0]["robots"]
    robots[0]["teams"] = ["C"]
    robots[0]["secret_ref"] = "jt-wecom-a-sign"
    robots[1]["leaders"] = ["jt-leader-z"]
    robots[2]["url"] = "ftp://robots.example"
    text = problems_of(tmp_path, data)
    assert "4 problems" in text
    assert "sites[0].robots[0] (id 'jt-wecom-a').teams: no guard or leader" in text
    assert "sites[0].robots[0] (id 'jt-wecom-a').secret_ref: only a DingTalk robot signs" in text
    assert "sites[0].robots[1] (id 'jt-ding-b').leaders: unknown leader 'jt-leader-z'" in text
    assert "sites[0].robots[2] (id 'jt-site').url: not an http:// or https:// URL" in text


def test_robot_shape_is_checked_kind_and_id_length(tmp_path: Path) -> None:
    data = site_with_robots()
    robots = data["sites"][0]["robots"]
    robots[0]["kind"] = "feishu"
    robots[1]["id"] = "x" * 27  # robot:<id> names an outbox destination of 32 characters
    robots[2]["webhook"] = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"
    text = problems_of(tmp_path, data)
    assert "sites[0].robots[0] (id 'jt-wecom-a').kind: " in text and "'feishu'" in text
    assert "sites[0].robots[1]" in text and ".id: String should match pattern" in text
    assert "sites[0].robots[2] (id 'jt-site').webhook: unknown field" in text


def test_robot_ids_are_unique_across_the_file(tmp_path: Path) -> None:
    data = site_with_robots()
    other = copy.deepcopy(data["sites"][0])
    other.update(id="wh-other", posts=[], leaders=[], guards=[], devices=[], shifts=[])
    other["robots"] = [{"id": "jt-site", "name": "x", "kind": "wecom", "webhook_ref": "k"}]
    data["sites"].append(other)
    assert "sites[1].robots[0] (id 'jt-site'): duplicate robot id" in problems_of(tmp_path, data)


def test_a_robot_id_of_another_site_is_refused_at_load(engine: Engine, tmp_path: Path) -> None:
    load_site_file(write(tmp_path, site_with_robots()), engine, NOW)
    data = site_with_robots()
    site = data["sites"][0]
    site.update(id="wh-other", posts=[], leaders=[], guards=[], devices=[], shifts=[])
    site["robots"] = [{"id": "jt-site", "name": "x", "kind": "wecom", "webhook_ref": "k"}]
    with pytest.raises(ConfigError, match="robot id already belongs to site 'wh-jiangtan-garden'"):
        load_site_file(write(tmp_path, data), engine, NOW)


def test_missing_secrets_are_named_by_place_when_the_settings_are_given(tmp_path: Path) -> None:
    data = site_with_robots()
    text = problems_of(tmp_path, data, SECRETS - {"jt-ding-b-sign", "jt-site-key"})
    assert "2 problems" in text
    assert (
        "sites[0].robots[1] (id 'jt-ding-b').secret_ref: secret 'jt-ding-b-sign' is not set "
        "in GATEWAY_ROBOT_SECRETS"
    ) in text
    assert "sites[0].robots[2] (id 'jt-site').webhook_ref: secret 'jt-site-key'" in text
    # Without the settings (a library call) the references are not checked.
    assert len(validate_site_file(write(tmp_path, data), NOW)) == 1


def test_a_load_with_a_missing_secret_stores_nothing(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="jt-wecom-a-key"):
        load_site_file(
            write(tmp_path, site_with_robots()), engine, NOW, SECRETS - {"jt-wecom-a-key"}
        )
    with Session(engine) as session:
        assert list(session.scalars(select(RobotRow))) == []
