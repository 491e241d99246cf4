"""The demo's site and terminals: the cast (``gateway.demo.cast``) written into the sample site
and into a scenario, and the leaders' group robots.

The sample site keeps its posts, leaders and policy; its guards, devices and shifts are
replaced by the cast's, plus the clock-in terminal, the patrol checkpoints with their readers
and the robots. Every terminal of the scenario is a device of the site, with the same id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.demo.cast import (
    CAST,
    CHECKPOINTS,
    CLOCK_IN_SERIAL,
    PATROL_POST,
    PINS,
    SHIFT_START_LOCAL,
    Actor,
    leader_of,
)

__all__ = ["ROBOTS", "DemoRobot", "robot_entries", "roster_overlay", "terminal_specs"]


@dataclass(frozen=True)
class DemoRobot:
    """A leaders' group robot of the demo: its site-file entry and the secrets it names."""

    entry: dict[str, Any]
    secrets: dict[str, str]


ROBOTS = [
    DemoRobot(
        {"id": "jt-wecom-a", "name": "A班组", "kind": "wecom", "webhook_ref": "jt-wecom-a-key",
         "teams": ["A"]},
        {"jt-wecom-a-key": "demo-wecom-key-a"},
    ),
    DemoRobot(
        {"id": "jt-ding-b", "name": "B班组 陈志强", "kind": "dingtalk",
         "webhook_ref": "jt-ding-b-token", "secret_ref": "jt-ding-b-sign",
         "leaders": ["jt-leader-b"]},
        {"jt-ding-b-token": "demo-ding-token-b", "jt-ding-b-sign": "SECdemo5f0c2a9e71d4"},
    ),
]  # fmt: skip
"""Team A's WeCom group and team B's leader's DingTalk group (signed requests)."""


def robot_entries(wecom_url: str, dingtalk_url: str) -> list[dict[str, Any]]:
    """The demo robots' site-file entries, pointing at a robot stub's endpoints."""
    urls = {"wecom": wecom_url, "dingtalk": dingtalk_url}
    return [{**robot.entry, "url": urls[robot.entry["kind"]]} for robot in ROBOTS]


def _devices(actor: Actor) -> list[str]:
    """The ids of the GPS terminals ``actor`` wears."""
    return [actor.device_id] + ([actor.second.device_id] if actor.second else [])


def roster_overlay(
    site: dict[str, Any], reader_urls: list[str], robots: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The sample site with the demo's guards, terminals and day shift in place of its own,
    plus a clock-in terminal and the patrol checkpoints, each read by the reader at
    ``reader_urls[i]``, and the group ``robots`` (site-file entries)."""
    doc = dict(site)
    entry = dict(doc["sites"][0])
    entry["guards"] = [
        {
            "id": a.guard_id,
            "name": a.name,
            "team": a.team,
            "leaders": [leader_of(a.guard_id)],
            "pin": PINS[a.guard_id],
        }
        for a in CAST
    ]
    entry["devices"] = [
        {"id": device, "kind": "gps", "guard": a.guard_id} for a in CAST for device in _devices(a)
    ]
    entry["devices"].append(  # its simulator posts from this host, as the API listens
        {
            "id": "zk-north-gate",
            "kind": "clock_in",
            "post": "jt-gate-north",
            "sn": CLOCK_IN_SERIAL,
            "address": "127.0.0.1",
        }
    )
    entry["devices"] += [
        {
            "id": f"em-{cp_id}",
            "kind": "em4100_reader",
            "post": PATROL_POST,
            "url": url,
            "variant": "rdm6300",
        }
        for (cp_id, _name, _tag), url in zip(CHECKPOINTS, reader_urls, strict=True)
    ]
    entry["checkpoints"] = [
        {"id": cp_id, "name": name, "post": PATROL_POST, "tags": [tag]}
        for cp_id, name, tag in CHECKPOINTS
    ]
    entry["routes"] = [
        {
            "id": "garden-round",
            "name": "中心花园巡更 (garden round)",
            "post": PATROL_POST,
            "schedule": {"every_min": 60, "offset_min": 30},
            "checkpoints": [
                {"checkpoint": cp_id, "window_min": [5 * i, 5 * i + 5]}
                for i, (cp_id, _name, _tag) in enumerate(CHECKPOINTS)
            ],
        }
    ]
    entry["shifts"] = [
        {
            "guard": a.guard_id,
            "post": a.post_id,
            "days": "daily",
            "start": SHIFT_START_LOCAL,
            "end": a.shift_end,
        }
        for a in CAST
    ]
    entry["robots"] = list(robots or [])
    doc["sites"] = [entry]
    return doc


def _spec(
    device_id: str,
    fmt: str,
    anchor: dict[str, float],
    seed: int,
    timeline: list[dict[str, Any]],
    options: dict[str, Any],
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        # An OwnTracks id is <user>/<device>, its topic's levels (the options say which).
        "device_id": device_id.replace("/", "-"),
        "format": fmt,
        "anchor": anchor,
        "interval_s": 20,
        "accuracy_m": 8,
        "seed": seed,
        "timeline": timeline,
    }
    if options:
        spec["options"] = options
    return spec


def terminal_specs(actor: Actor, anchor: dict[str, float]) -> list[dict[str, Any]]:
    """The scenario entries of an actor's terminals, anchored at his post's centre (WGS-84)."""
    seed = int(actor.guard_id[-3:])
    specs = [_spec(actor.device_id, actor.format, anchor, seed, actor.timeline, actor.options)]
    if actor.second is not None:
        second = actor.second
        specs.append(
            _spec(second.device_id, second.format, anchor, seed + 100, second.timeline,
                  second.options)
        )  # fmt: skip
    return specs
