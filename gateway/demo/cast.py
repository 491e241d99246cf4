"""Who does what in the demo: ten day-shift guards, each showing one behaviour of the rules.

The roster replaces the sample site's guards, devices and shifts (its posts are kept), so the
demo's terminals and the site agree on every device id and format. Times are minutes after
the shift starts at 08:00 local time; the demo clock starts two minutes before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CAST",
    "CHECKPOINTS",
    "CLOCK_IN_SERIAL",
    "PATROL_ACTIONS",
    "PINS",
    "PUNCH_ACTIONS",
    "ROBOTS",
    "SHIFT_START_LOCAL",
    "Action",
    "Actor",
    "leader_of",
    "robot_entries",
    "roster_overlay",
    "terminal_spec",
]

SHIFT_START_LOCAL = "08:00"
SHIFT_END_LOCAL = "20:00"
LEADERS = {"A": "jt-leader-a", "B": "jt-leader-b"}


@dataclass(frozen=True)
class Action:
    """Something a leader enters through the API at ``at_min`` (a report, a leave, a cancel)."""

    at_min: float
    kind: str  # "report" | "leave" | "cancel" | "scan" | "punch"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Actor:
    """One guard: his terminal, his post, his timeline and what his leader enters for him."""

    guard_id: str
    name: str
    device_id: str
    format: str
    post_id: str
    story: str
    timeline: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)


def _out(minutes: float, away_min: float, north_m: float = 250) -> list[dict[str, Any]]:
    """Stay until ``minutes`` after 08:00, walk out, stay away, walk back, stay."""
    return [
        {"stay": {"duration_s": (minutes + 2) * 60}},
        {"walk": {"to": {"north_m": north_m, "east_m": 0}, "speed_mps": 1.4}},
        {"stay_away": {"duration_s": away_min * 60}},
        {"return": {"speed_mps": 1.4}},
        {"stay": {"duration_s": 7200}},
    ]


CAST: list[Actor] = [
    Actor(
        "g-001",
        "张伟",
        "gps-001",
        "json",
        "jt-gate-north",
        "stays on post all morning",
        [{"stay": {"duration_s": 8 * 3600}}],
    ),
    Actor(
        "g-002",
        "王磊",
        "wanglei/phone",
        "owntracks",
        "jt-gate-east",
        "reports verbally, out about 8 minutes: a reported departure, no alert",
        _out(10, 3),
        options={"user": "wanglei", "device": "phone"},
        actions=[Action(9.5, "report", {"minutes": 10, "destination": "便利店 (shop)"})],
    ),
    Actor(
        "g-003",
        "李强",
        "gps-003",
        "nmea",
        "jt-garage-b1",
        "leaves about 9 minutes without a word: unreported departure",
        _out(12, 4),
    ),
    Actor(
        "g-004",
        "赵军",
        "13800000004",
        "jt808",
        "jt-patrol-central",
        "leaves 20 minutes without leave: unreported, then overtime",
        _out(5, 17),
    ),
    Actor(
        "g-005",
        "周勇",
        "gps-005",
        "json",
        "jt-plaza",
        "approved leave, comes back, never cancels it: leave not cancelled",
        _out(10, 15),
        actions=[Action(8, "leave", {"start_min": 10, "end_min": 45, "reason": "看病"})],
    ),
    Actor(
        "g-006",
        "吴杰",
        "gps-006",
        "json",
        "jt-gate-north",
        "terminal goes silent for 14 minutes: device silent, then resumed",
        [
            {"stay": {"duration_s": 22 * 60}},
            {"silent": {"duration_s": 14 * 60}},
            {"stay": {"duration_s": 7200}},
        ],
    ),
    Actor(
        "g-007",
        "徐涛",
        "13800000007",
        "jt808",
        "jt-gate-east",
        "presses SOS",
        [{"stay": {"duration_s": 17 * 60}}, {"sos": {"count": 2}}, {"stay": {"duration_s": 7200}}],
    ),
    Actor(
        "g-008",
        "孙斌",
        "gps-008",
        "nmea",
        "jt-control-room",
        "arrives 17 minutes late: absent at shift start, then arrived",
        [
            {"walk": {"to": {"north_m": 300, "east_m": 0}, "speed_mps": 20}},
            {"stay_away": {"duration_s": 17 * 60}},
            {"return": {"speed_mps": 1.4}},
            {"stay": {"duration_s": 7200}},
        ],
    ),
    Actor(
        "g-009",
        "胡明",
        "gps-009",
        "json",
        "jt-garage-b1",
        "15-minute leave, out 27 minutes: leave overrun; cancels it on return",
        _out(20, 22),
        actions=[
            Action(18, "leave", {"start_min": 20, "end_min": 35, "reason": "取快递"}),
            Action(52, "cancel", {"of": "g-009"}),
        ],
    ),
    Actor(
        "g-010",
        "郭鹏",
        "13800000010",
        "jt808",
        "jt-plaza",
        "no signal for 8 minutes; the terminal uploads its stored positions as a batch "
        "(JT/T 808 0x0704 blind-area upload): history kept, no false alarm",
        [
            {"stay": {"duration_s": 27 * 60}},
            {"offline": {"duration_s": 8 * 60}},
            {"stay": {"duration_s": 7200}},
        ],
    ),
]
"""The ten guards of the demo's day shift."""

PINS = {actor.guard_id: f"10{n:02d}" for n, actor in enumerate(CAST, start=1)}
"""Each guard's user id (PIN) on the clock-in terminal at the north gate."""

CLOCK_IN_SERIAL = "ZKDEMO00001"
PATROL_POST = "jt-patrol-central"
CHECKPOINTS = [
    ("cp-garden-east", "花园东侧 (garden east)", "0100A1B2C3"),
    ("cp-fountain", "喷泉 (fountain)", "0100A1B2C4"),
    ("cp-garden-west", "花园西侧 (garden west)", "0100A1B2C5"),
]
"""The patrol checkpoints of the central garden: id, name, EM4100 tag (one reader each)."""

PATROL_ACTIONS = [
    # Round 1 (08:30): east on time, the fountain skipped, west on time.
    Action(32, "scan", {"checkpoint": 0}),
    Action(41, "scan", {"checkpoint": 2}),
    # Round 2 (09:30): all three in order.
    Action(31 + 60, "scan", {"checkpoint": 0}),
    Action(37 + 60, "scan", {"checkpoint": 1}),
    Action(42 + 60, "scan", {"checkpoint": 2}),
]
PUNCH_ACTIONS = [
    Action(-1, "punch", {"guards": [a.guard_id for a in CAST if a.guard_id != "g-008"]}),
    Action(1, "punch", {"pin": "9999"}),  # a card nobody holds: reported, not dropped
    Action(19, "punch", {"guards": ["g-008"]}),  # late: the alert came at 08:15
]
"""Clock-in punches at the north gate terminal (ZKTeco PUSH over HTTP)."""


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


def _team(guard_id: str) -> str:
    # The first five of the cast are team A, the others team B, as in the sample site.
    return "A" if int(guard_id[2:]) <= 5 else "B"


def leader_of(guard_id: str) -> str:
    """The leader a guard's reports and leaves are given to."""
    return LEADERS[_team(guard_id)]


def robot_entries(wecom_url: str, dingtalk_url: str) -> list[dict[str, Any]]:
    """The demo robots' site-file entries, pointing at a robot stub's endpoints."""
    urls = {"wecom": wecom_url, "dingtalk": dingtalk_url}
    return [{**robot.entry, "url": urls[robot.entry["kind"]]} for robot in ROBOTS]


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
            "team": _team(a.guard_id),
            "leaders": [leader_of(a.guard_id)],
            "pin": PINS[a.guard_id],
        }
        for a in CAST
    ]
    entry["devices"] = [{"id": a.device_id, "kind": "gps", "guard": a.guard_id} for a in CAST]
    entry["devices"].append(
        {"id": "zk-north-gate", "kind": "clock_in", "post": "jt-gate-north", "sn": CLOCK_IN_SERIAL}
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
            "end": SHIFT_END_LOCAL,
        }
        for a in CAST
    ]
    entry["robots"] = list(robots or [])
    doc["sites"] = [entry]
    return doc


def terminal_spec(actor: Actor, anchor: dict[str, float]) -> dict[str, Any]:
    """The scenario entry of one actor's terminal, anchored at his post's centre (WGS-84)."""
    spec: dict[str, Any] = {
        "device_id": actor.device_id if actor.format != "owntracks" else "phone",
        "format": actor.format,
        "anchor": anchor,
        "interval_s": 20,
        "accuracy_m": 8,
        "seed": int(actor.guard_id[-3:]),
        "timeline": actor.timeline,
    }
    if actor.options:
        spec["options"] = actor.options
    return spec
