"""Who does what in the demo: thirteen day-shift guards, each showing one behaviour of the rules.

The roster (``gateway.demo.roster``) replaces the sample site's guards, devices and shifts (its
posts are kept), so the demo's terminals and the site agree on every device id and format.
Times are minutes after the shift starts at 08:00 local time; the demo clock starts two minutes
before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CAST",
    "CHECKPOINTS",
    "CLOCK_IN_SERIAL",
    "PATROL_ACTIONS",
    "PATROL_POST",
    "PINS",
    "PUNCH_ACTIONS",
    "SHIFT_END_LOCAL",
    "SHIFT_START_LOCAL",
    "Action",
    "Actor",
    "Terminal",
    "leader_of",
]

SHIFT_START_LOCAL = "08:00"
SHIFT_END_LOCAL = "20:00"
LEADERS = {"A": "jt-leader-a", "B": "jt-leader-b"}


@dataclass(frozen=True)
class Action:
    """Something entered or done at ``at_min``: a leader's report, leave or cancellation
    through the API, a checkpoint scan on a reader, or punches on the clock-in terminal."""

    at_min: float
    kind: str  # "report" | "leave" | "cancel" | "scan" | "punch"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Terminal:
    """A second terminal a guard wears (a company badge beside his phone)."""

    device_id: str
    format: str
    timeline: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Actor:
    """One guard: his terminal, his post, his timeline and what his leader enters for him.

    ``shift_end`` is his daily shift's end (local ``HH:MM``); ``second`` a second terminal he
    wears, if any."""

    guard_id: str
    name: str
    device_id: str
    format: str
    post_id: str
    story: str
    timeline: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    team: str = "A"
    shift_end: str = SHIFT_END_LOCAL
    second: Terminal | None = None


def _out(minutes: float, away_min: float, north_m: float = 250) -> list[dict[str, Any]]:
    """Stay until ``minutes`` after 08:00, walk out, stay away, walk back, stay."""
    return [
        {"stay": {"duration_s": (minutes + 2) * 60}},
        {"walk": {"to": {"north_m": north_m, "east_m": 0}, "speed_mps": 1.4}},
        {"stay_away": {"duration_s": away_min * 60}},
        {"return": {"speed_mps": 1.4}},
        {"stay": {"duration_s": 7200}},
    ]


def _stay_all_day() -> list[dict[str, Any]]:
    return [{"stay": {"duration_s": 8 * 3600}}]


CAST: list[Actor] = [
    Actor(
        "g-001",
        "张伟",
        "gps-001",
        "json",
        "jt-gate-north",
        "stays on post all morning",
        _stay_all_day(),
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
        team="B",
    ),
    Actor(
        "g-007",
        "徐涛",
        "13800000007",
        "jt808",
        "jt-gate-east",
        "presses SOS",
        [{"stay": {"duration_s": 17 * 60}}, {"sos": {"count": 2}}, {"stay": {"duration_s": 7200}}],
        team="B",
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
        team="B",
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
        team="B",
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
        team="B",
    ),
    Actor(
        "g-011",
        "刘洋",
        "liuyang/phone",
        "owntracks",
        "jt-gate-north",
        "leaves his company badge (it logs in through the gateway's replies) in the gate "
        "booth and walks out about 11 minutes with his phone: unreported departure, device "
        "left behind",
        _out(24, 6),
        options={"user": "liuyang", "device": "phone"},
        second=Terminal("13800000011", "jt808", _stay_all_day(), {"register": True}),
    ),
    Actor(
        "g-012",
        "马超",
        "gps-012",
        "nmea",
        "jt-gate-east",
        "phones his leader at 09:17 and walks out; the leader types the report in at 09:24: "
        "the unreported alert is withdrawn; not back by the end of his shift: left early",
        [
            {"stay": {"duration_s": (78 + 2) * 60}},
            {"walk": {"to": {"north_m": 250, "east_m": 0}, "speed_mps": 1.4}},
            {"stay_away": {"duration_s": 7200}},
        ],
        actions=[
            Action(
                84,
                "report",
                {"minutes": 10, "reported_min": 77, "destination": "家里有事 (family matter)"},
            )
        ],
        team="B",
        shift_end="09:30",
    ),
    Actor(
        "g-013",
        "林峰",
        "gps-013",
        "json",
        "jt-control-room",
        "presses SOS indoors, where his terminal has no fix: the alert carries his last fix",
        [
            {"stay": {"duration_s": (63 + 2) * 60}},
            {"sos": {"count": 1, "fix": False}},
            {"stay": {"duration_s": 7200}},
        ],
    ),
]
"""The thirteen guards of the demo's day shift."""

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
    # A tag nobody in the site file owns, held to the fountain's reader: kept and reported.
    Action(47, "scan", {"checkpoint": 1, "tag": "0100FFEE01"}),
]
PUNCH_ACTIONS = [
    Action(-1, "punch", {"guards": [a.guard_id for a in CAST if a.guard_id != "g-008"]}),
    Action(1, "punch", {"pin": "9999"}),  # a card nobody holds: reported, not dropped
    Action(19, "punch", {"guards": ["g-008"]}),  # late: the alert came at 08:15
]
"""Clock-in punches at the north gate terminal (ZKTeco PUSH over HTTP)."""


def leader_of(guard_id: str) -> str:
    """The leader a guard's reports and leaves are given to."""
    team = next(actor.team for actor in CAST if actor.guard_id == guard_id)
    return LEADERS[team]
