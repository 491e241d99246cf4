"""Turn a scenario into the exact, time-ordered list of MQTT publications it makes.

Planning is pure and deterministic (seeded), so the runner only has to publish each item when
the clock reaches it, and tests can inspect a plan without a broker.

Per terminal: fixes are taken every ``interval_s`` from its ``start_offset_s`` until the end of
its timeline (both ends included). During ``silent`` no fix is taken; during ``offline`` fixes
are taken and stored, and the stored fixes go up in a batch at the moment the offline step ends.
After a ``silent`` step the terminal powers on again, so it logs in again (JT/T 808 with
``register``: the plan holds its 0x0100 with the ``LoginPlan`` of the exchange the runner plays;
the terminal's later publications wait for it). At one instant the order is: log-in, batch
upload, live fix; or log-in, live fix, batch for a terminal that sends where it is first
(``TerminalSpec.live_first``). An SOS pressed without a fix (``sos: {fix: false}``) replaces
the fixes it marks with messages carrying the terminal's last known position, not located.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from fwsim.gps.encoders import LoginPlan, Message, make_encoder
from fwsim.gps.fix import SimFix
from fwsim.gps.motion import FixSampler, Leg, Track
from fwsim.scenario.model import (
    Offline,
    Reception,
    Return,
    Scenario,
    Silent,
    Sos,
    Stay,
    TerminalSpec,
    Walk,
)

__all__ = ["Publication", "TerminalTimeline", "build_timeline", "plan_scenario", "plan_terminal"]

_EPS = 1e-9
_LOGIN, _BATCH, _FIX, _BATCH_AFTER_FIX = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Publication:
    """One planned publication ``at`` an absolute (clock) time. ``login`` is set on a log-in
    the platform's replies drive (see ``fwsim.scenario.login``)."""

    at: datetime
    device_id: str
    topic: str
    payload: bytes
    fixes: int
    kind: str  # "login", "fix", "alarm" (no position) or "batch"
    login: LoginPlan | None = None


@dataclass(frozen=True, slots=True)
class TerminalTimeline:
    """A compiled timeline (seconds from the terminal's own start)."""

    track: Track
    silent: tuple[tuple[float, float], ...]
    offline: tuple[tuple[float, float], ...]
    sos: tuple[tuple[float, int, bool], ...]
    """(time, count, with a fix) of each SOS press."""
    end_s: float
    reception: tuple[tuple[float, float, Reception], ...] = ()
    """(start, end, reception) of each step that changes the receiver's accuracy or noise."""


def build_timeline(spec: TerminalSpec) -> TerminalTimeline:
    """Compile the steps into a true track and the silent/offline windows and SOS marks.

    Raises ``ValueError`` when a step's ``until_s`` is not after the time the step starts."""
    reception: list[tuple[float, float, Reception]] = []
    t = 0.0
    pos = (0.0, 0.0)
    legs: list[Leg] = []
    silent: list[tuple[float, float]] = []
    offline: list[tuple[float, float]] = []
    sos: list[tuple[float, int, bool]] = []
    for step in spec.timeline:
        if isinstance(step, Sos):
            sos.append((t, step.count, step.fix))
            continue
        if isinstance(step, Walk | Return):
            target = step.to if isinstance(step, Walk) else (0.0, 0.0)
            distance = ((target[0] - pos[0]) ** 2 + (target[1] - pos[1]) ** 2) ** 0.5
            if distance == 0:
                continue
            duration = distance / step.speed_mps
            legs.append(Leg(t, t + duration, pos, target))
            pos = target
        else:
            assert isinstance(step, Stay | Silent | Offline)
            duration = step.duration_s
            if step.until_s is not None:
                duration = step.until_s - spec.start_offset_s - t
                if duration <= 0:
                    raise ValueError(
                        f"a step running until {step.until_s:g} s starts at"
                        f" {spec.start_offset_s + t:g} s (already past it)"
                    )
            legs.append(Leg(t, t + duration, pos, pos))
            if isinstance(step, Silent):
                silent.append((t, t + duration))
        if isinstance(step, Offline) or (not isinstance(step, Silent) and step.reception.offline):
            if offline and abs(offline[-1][1] - t) < _EPS:  # one outage across the steps
                offline[-1] = (offline[-1][0], t + duration)
            else:
                offline.append((t, t + duration))
        if not isinstance(step, Silent) and step.reception != Reception():
            reception.append((t, t + duration, step.reception))
        t += duration
    return TerminalTimeline(
        Track(legs), tuple(silent), tuple(offline), tuple(sos), t, tuple(reception)
    )


def _inside(windows: tuple[tuple[float, float], ...], t: float) -> tuple[float, float] | None:
    for start, end in windows:
        if start - _EPS <= t < end - _EPS:
            return start, end
    return None


def plan_terminal(
    spec: TerminalSpec, start: datetime, seed: int | None = None
) -> list[Publication]:
    """Every publication of one terminal, in order. ``seed``, when given, is mixed with the
    terminal's own seed (one knob re-rolls a whole scenario)."""
    timeline = build_timeline(spec)
    rng_seed: int | str = spec.seed if seed is None else f"{seed}:{spec.seed}:{spec.device_id}"
    sampler = FixSampler(
        spec.device_id,
        spec.anchor,
        timeline.track,
        spec.noise,
        random.Random(rng_seed),
        altitude_m=spec.altitude_m,
        battery_pct=spec.battery_pct,
        battery_drain_pct_per_h=spec.battery_drain_pct_per_h,
    )
    origin = start + timedelta(seconds=spec.start_offset_s)
    # (t, order, kind, fixes) actions, encoded after sorting so serial numbers follow send order.
    actions: list[tuple[float, int, int, list[SimFix]]] = []
    power_on = [0.0] if not _inside(timeline.silent, 0.0) else []
    for n, t_on in enumerate(power_on + [end for _, end in timeline.silent]):
        actions.append((t_on, _LOGIN, n, []))
    stored: dict[float, list[SimFix]] = {end: [] for _, end in timeline.offline}
    sos_marks = list(timeline.sos)
    sos_pending: list[bool] = []  # one entry per message still to carry SOS: with a fix?
    last_known: SimFix | None = None
    # A live-first terminal takes a fix the moment it is back in network, to send before its
    # batch, when its reporting period does not put one there.
    back_online = sorted(end for _, end in timeline.offline) if spec.live_first else []
    k = 0
    while (t := k * spec.interval_s) <= timeline.end_s + _EPS:
        k += 1
        while back_online and back_online[0] <= t + _EPS:
            back = back_online.pop(0)
            if back < t - _EPS:
                conditions = _reception_at(timeline.reception, back, timeline.end_s)
                live = sampler.sample(
                    back,
                    origin + timedelta(seconds=back),
                    accuracy_m=conditions.accuracy_m,
                    noise_m=conditions.noise_m,
                )
                actions.append((back, _FIX, len(actions), [live]))
        if _inside(timeline.silent, t):
            continue
        while sos_marks and sos_marks[0][0] <= t + _EPS:
            _, count, with_fix = sos_marks.pop(0)
            sos_pending += [with_fix] * count
        conditions = _reception_at(timeline.reception, t, timeline.end_s)
        fix = sampler.sample(
            t,
            origin + timedelta(seconds=t),
            sos=bool(sos_pending),
            accuracy_m=conditions.accuracy_m,
            noise_m=conditions.noise_m,
        )
        if sos_pending and not sos_pending.pop(0):
            fix = _without_fix(fix, last_known)
        else:
            last_known = fix
        window = _inside(timeline.offline, t)
        if window:
            stored[window[1]].append(fix)
        else:
            actions.append((t, _FIX, len(actions), [fix]))
    batch = _BATCH_AFTER_FIX if spec.live_first else _BATCH
    for end, fixes in stored.items():
        actions.append((end, batch, len(actions), fixes))
    actions.sort(key=lambda a: (a[0], a[1], a[2]))

    encoder = make_encoder(spec.format, spec.device_id, spec.options)
    out: list[Publication] = []
    for t, kind, _, fixes in actions:
        messages: list[Message]
        if kind == _LOGIN:
            messages = encoder.login()
        elif kind in (_BATCH, _BATCH_AFTER_FIX):
            messages = encoder.batch(fixes)
        else:
            messages = encoder.fix(fixes[0])
        at = origin + timedelta(seconds=t)
        out += [
            Publication(at, spec.device_id, m.topic, m.payload, m.fixes, m.kind, m.login)
            for m in messages
        ]
    return out


def _reception_at(
    windows: tuple[tuple[float, float, Reception], ...], t: float, end_s: float
) -> Reception:
    """The reception of the step running at ``t``: a step's end belongs to the next step, the
    timeline's very end to the last step."""
    for start, end, reception in windows:
        if start - _EPS <= t < end - _EPS:
            return reception
        if abs(t - end_s) < _EPS and abs(end - end_s) < _EPS:
            return reception
    return Reception()


def _without_fix(fix: SimFix, last_known: SimFix | None) -> SimFix:
    """``fix`` as the terminal reports it without a fix: its last known position (0, 0 when it
    never had one), standing, no satellites, not located."""
    lat, lon = (last_known.lat, last_known.lon) if last_known else (0.0, 0.0)
    return replace(fix, lat=lat, lon=lon, speed_mps=0.0, satellites=0, located=False)


def plan_scenario(
    scenario: Scenario, start: datetime, seed: int | None = None
) -> list[Publication]:
    """All terminals' publications merged by time; at equal times, in terminal order, each
    terminal's own order kept."""
    tagged = [
        (pub.at, index, n, pub)
        for index, spec in enumerate(scenario.terminals)
        for n, pub in enumerate(plan_terminal(spec, start, seed))
    ]
    tagged.sort(key=lambda item: (item[0], item[1], item[2]))
    return [item[3] for item in tagged]
