"""Scenario records: terminals and their timelines, as validated by ``fwsim.scenario.loader``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fwsim.gps.encoders import EncoderOptions
from fwsim.gps.motion import NoiseModel

__all__ = [
    "Offline",
    "Reception",
    "Return",
    "Scenario",
    "ScenarioError",
    "Silent",
    "Sos",
    "Stay",
    "Step",
    "TerminalSpec",
    "Walk",
]


class ScenarioError(ValueError):
    """A scenario file is invalid. ``problems`` lists every problem found, each naming its place
    (terminal index and device id, step index and kind) and what is wrong."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid scenario:\n  " + "\n  ".join(problems))


@dataclass(frozen=True, slots=True)
class Reception:
    """What a step changes in the receiver for the fixes taken during it (``None``: the
    terminal's own): ``accuracy_m`` the accuracy it *reports*, ``noise_m`` the true error's
    68 % radius, independent of it (a cell fallback reports 800 m and is 300 m off; a badge
    under a roof reports 5 m and is 40 m off); ``offline``: the step is played without network."""

    accuracy_m: float | None = None
    noise_m: float | None = None
    offline: bool = False
    """No network during the step: its fixes are stored and go up in a batch when the
    network is back (consecutive offline steps make one outage), as with ``offline``."""


@dataclass(frozen=True, slots=True)
class Stay:
    """Stand where he is for ``duration_s``, or until ``until_s`` seconds after the scenario
    start when given (``stay_away`` in a file is the same step, named for readability when he
    is away from the post)."""

    duration_s: float
    away: bool = False
    reception: Reception = Reception()
    until_s: float | None = None


@dataclass(frozen=True, slots=True)
class Walk:
    """Walk in a straight line to ``to`` = (north_m, east_m) from the anchor at ``speed_mps``."""

    to: tuple[float, float]
    speed_mps: float = 1.4
    reception: Reception = Reception()


@dataclass(frozen=True, slots=True)
class Return:
    """Walk back to the anchor (the post centre) at ``speed_mps``."""

    speed_mps: float = 1.4
    reception: Reception = Reception()


@dataclass(frozen=True, slots=True)
class Silent:
    """Terminal switched off for ``duration_s`` (or until ``until_s``): no fix is taken or
    sent; he stays where he is."""

    duration_s: float
    until_s: float | None = None


@dataclass(frozen=True, slots=True)
class Offline:
    """No network for ``duration_s`` (or until ``until_s``): fixes are taken and stored, then
    uploaded as a batch on reconnection; he stays where he is."""

    duration_s: float
    reception: Reception = Reception()
    until_s: float | None = None


@dataclass(frozen=True, slots=True)
class Sos:
    """The next ``count`` fixes carry the SOS alarm. Takes no time. ``fix`` false: pressed
    where the receiver has no fix (indoors), so those messages carry no position of their own
    (see ``fwsim.gps.fix.SimFix.located``)."""

    count: int = 1
    fix: bool = True


Step = Stay | Walk | Return | Silent | Offline | Sos


@dataclass(frozen=True, slots=True)
class TerminalSpec:
    """One simulated terminal: identity, format, post anchor (WGS-84), reporting and error
    parameters, and its timeline (offsets from the scenario start, shifted by
    ``start_offset_s``)."""

    device_id: str
    format: str
    anchor: tuple[float, float]
    timeline: tuple[Step, ...]
    interval_s: float = 30.0
    noise: NoiseModel = field(default_factory=NoiseModel)
    seed: int = 0
    start_offset_s: float = 0.0
    altitude_m: float = 25.0
    battery_pct: float | None = 95.0
    battery_drain_pct_per_h: float = 4.0
    options: EncoderOptions = field(default_factory=EncoderOptions)
    live_first: bool = False
    """Back in network, the terminal sends where it is before what it stored (JT/T 808
    terminals may: the 0x0200, then the 0x0704 batch); default: the stored batch first."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named set of terminals run together."""

    name: str
    terminals: tuple[TerminalSpec, ...]
    description: str = ""
