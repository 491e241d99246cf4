"""Validate GPS terminals and their timelines; load them from a site-day scenario file.

``load_scenario`` reads a site-day file (``fwsim.scenario.day_spec``), which turns its
terminals into the form below (``post`` into ``anchor``, ``at`` into ``start_offset_s``,
``until`` into ``until_s``); ``parse_scenario`` validates that form, which the in-process rigs
and the demo also build directly::

    name: single-guard-departure          # optional, default: file name
    description: ...                      # optional
    terminals:
      - device_id: "13800000001"
        format: json                      # json | owntracks | nmea | jt808 | jt808-hex | jt808-emqx
        anchor: {lat: 30.5928, lon: 114.3055}   # the post's centre (WGS-84)
        interval_s: 30                    # report period (default 30)
        accuracy_m: 8                     # reported accuracy (default 8), see fwsim.gps.motion
        seed: 1                           # default 0
        correlation_s: 30                 # error drift time constant (default 30, 0 = white)
        multipath: {probability: 0.02, min_m: 50, max_m: 200}   # default off
        start_offset_s: 0                 # power-on delay from the scenario start
        upload_order: stored_first        # back in network: stored_first | live_first
        altitude_m: 25
        battery_pct: 95                   # null = not reported
        battery_drain_pct_per_h: 4
        options: {...}                    # per format, see OPTION_KEYS
        timeline:
          - stay: {duration_s: 300}             # or until_s: seconds from the scenario start
          - stay: {duration_s: 600, accuracy_m: 800, noise_m: 300}   # a cell fallback: what
                                                # it reports, and how far off it truly is
          - walk: {to: {north_m: 250, east_m: 0}, speed_mps: 1.4}   # or to: {lat, lon}
          - stay_away: {duration_s: 960}
          - return: {speed_mps: 1.4}
          - silent: {duration_s: 900}
          - sos: {count: 1}               # fix: false = pressed indoors, no position
          - offline: {duration_s: 600}
          - walk: {to: {north_m: -200}, offline: true}   # any move may be made without network:
                                                # consecutive offline steps are one outage

Every problem is collected and reported at once in a ``ScenarioError``, each naming the
terminal (index and device id) and the step (index and kind).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from fwsim.gps.encoders import FORMATS, EncoderOptions
from fwsim.gps.motion import NoiseModel, latlon_to_offset
from fwsim.scenario.fields import Problems, latlon, number, unknown_keys
from fwsim.scenario.model import (
    Offline,
    Reception,
    Return,
    Scenario,
    ScenarioError,
    Silent,
    Sos,
    Stay,
    Step,
    TerminalSpec,
    Walk,
)
from fwsim.scenario.plan import build_timeline

__all__ = ["NOT_A_SITE_DAY", "OPTION_KEYS", "load_scenario", "parse_scenario"]

NOT_A_SITE_DAY = (
    "not a site-day scenario: the file names no 'site' (the scenario language: docs/scenarios.md)"
)

_COMMON_OPTIONS = frozenset({"topic_prefix"})
OPTION_KEYS: Mapping[str, frozenset[str]] = {
    "json": _COMMON_OPTIONS,
    "owntracks": frozenset({"user", "device", "tid", "numbers_as_strings"}),
    "nmea": _COMMON_OPTIONS | {"talker"},
    "jt808": _COMMON_OPTIONS | {"register", "signal", "extra_status"},
    "jt808-hex": _COMMON_OPTIONS | {"register", "signal", "extra_status"},
    "jt808-emqx": frozenset({"signal", "extra_status"}),
}
_TERMINAL_KEYS = frozenset(
    {
        "device_id",
        "format",
        "anchor",
        "interval_s",
        "accuracy_m",
        "seed",
        "correlation_s",
        "multipath",
        "start_offset_s",
        "upload_order",
        "altitude_m",
        "battery_pct",
        "battery_drain_pct_per_h",
        "options",
        "timeline",
    }
)
_RECEPTION = frozenset({"accuracy_m", "noise_m", "offline"})
_TIMED = frozenset({"duration_s", "until_s"})
_STEP_KEYS: Mapping[str, frozenset[str]] = {
    "stay": _TIMED | _RECEPTION,
    "stay_away": _TIMED | _RECEPTION,
    "silent": _TIMED,
    "offline": _TIMED | _RECEPTION - {"offline"},
    "walk": frozenset({"to", "speed_mps"}) | _RECEPTION,
    "return": frozenset({"speed_mps"}) | _RECEPTION,
    "sos": frozenset({"count", "fix"}),
}
_TALKERS = ("GP", "GN", "BD", "GB", "GL", "GA")


def _parse_step(
    raw: object, where: str, anchor: tuple[float, float] | None, problems: Problems
) -> Step | None:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        problems.add(where, f"a step is a mapping with one key ({', '.join(_STEP_KEYS)})")
        return None
    kind, args = next(iter(raw.items()))
    where = f"{where} ({kind})"
    if kind not in _STEP_KEYS:
        problems.add(where, f"unknown step {kind!r}; expected one of {', '.join(_STEP_KEYS)}")
        return None
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        problems.add(where, f"arguments must be a mapping, got {args!r}")
        return None
    unknown_keys(args, _STEP_KEYS[kind], where, problems)
    offline = args.get("offline", False)
    if not isinstance(offline, bool):
        problems.add(where, f"'offline' must be true or false, got {offline!r}")
    accuracy, noise = (
        number(args, key, where, problems, positive=True) if key in args else None
        for key in ("accuracy_m", "noise_m")
    )
    reception = Reception(accuracy, noise, offline is True)
    if kind in ("stay", "stay_away", "silent", "offline"):
        if ("duration_s" in args) == ("until_s" in args):
            problems.add(where, "give exactly one of 'duration_s' and 'until_s'")
            return None
        until = number(args, "until_s", where, problems, minimum=0.0) if "until_s" in args else None
        duration = (
            0.0 if "until_s" in args else number(args, "duration_s", where, problems, positive=True)
        )
        if duration is None or ("until_s" in args and until is None):
            return None
        if kind == "silent":
            return Silent(duration, until)
        if kind == "offline":
            return Offline(duration, reception, until)
        return Stay(duration, kind == "stay_away", reception, until)
    if kind == "sos":
        count = args.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            problems.add(where, f"'count' must be a whole number >= 1, got {count!r}")
            return None
        located = args.get("fix", True)
        if not isinstance(located, bool):
            problems.add(where, f"'fix' must be true or false, got {located!r}")
            return None
        return Sos(count, located)
    speed = number(args, "speed_mps", where, problems, default=1.4, positive=True)
    if kind == "return":
        return Return(speed or 1.4, reception)
    to = args.get("to")
    if not isinstance(to, Mapping):
        problems.add(where, "'to' is required: {north_m, east_m} or {lat, lon}")
        return None
    if "lat" in to or "lon" in to:
        point = latlon(to, f"{where} 'to'", problems)
        if point is None or anchor is None:
            return None
        target = latlon_to_offset(anchor[0], anchor[1], point[0], point[1])
    else:
        unknown_keys(to, frozenset({"north_m", "east_m"}), f"{where} 'to'", problems)
        if "north_m" not in to and "east_m" not in to:
            problems.add(where, "'to' needs north_m and/or east_m (metres from the anchor)")
            return None
        north = number(to, "north_m", f"{where} 'to'", problems, default=0.0)
        east = number(to, "east_m", f"{where} 'to'", problems, default=0.0)
        target = (north or 0.0, east or 0.0)
    return Walk(target, speed or 1.4, reception)


def _options(fmt: str, raw: object, where: str, problems: Problems) -> EncoderOptions:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        problems.add(where, f"'options' must be a mapping, got {raw!r}")
        return EncoderOptions()
    allowed = OPTION_KEYS.get(fmt, frozenset())
    unknown_keys(raw, allowed, f"{where} options", problems)
    kwargs: dict[str, Any] = {}
    for key in ("topic_prefix", "user", "device", "tid"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key] or any(c in raw[key] for c in "+#"):
                problems.add(where, f"option '{key}' must be a non-empty text without + or #")
                continue
            name = {"user": "owntracks_user", "device": "owntracks_device"}.get(key, key)
            kwargs[name] = raw[key]
    for key in ("numbers_as_strings", "register"):
        if key in raw:
            if not isinstance(raw[key], bool):
                problems.add(where, f"option '{key}' must be true or false, got {raw[key]!r}")
                continue
            kwargs[key] = raw[key]
    if "talker" in raw:
        if raw["talker"] not in _TALKERS:
            problems.add(where, f"option 'talker' must be one of {', '.join(_TALKERS)}")
        else:
            kwargs["talker"] = raw["talker"]
    for key, top in (("signal", 0xFF), ("extra_status", 0xFFFFFFFF)):
        if key in raw:
            value = raw[key]
            ok = value is None if key == "signal" else False
            if not ok and not (isinstance(value, int) and not isinstance(value, bool)):
                problems.add(where, f"option '{key}' must be a whole number 0..{top}")
                continue
            if isinstance(value, int) and not 0 <= value <= top:
                problems.add(where, f"option '{key}' must be within 0..{top}, got {value}")
                continue
            kwargs[key] = value
    return EncoderOptions(**kwargs)


def _parse_terminal(raw: object, index: int, problems: Problems) -> TerminalSpec | None:
    where = f"terminals[{index}]"
    if not isinstance(raw, Mapping):
        problems.add(where, "a terminal must be a mapping")
        return None
    device_id = raw.get("device_id")
    if isinstance(device_id, int) and not isinstance(device_id, bool):
        device_id = str(device_id)
    if not isinstance(device_id, str) or not device_id or any(c in device_id for c in "/+#"):
        problems.add(
            where, f"'device_id' must be a non-empty text without / + #, got {device_id!r}"
        )
        device_id = "?"
    where = f"terminals[{index}] ({device_id})"
    unknown_keys(raw, _TERMINAL_KEYS, where, problems)
    fmt = raw.get("format")
    if fmt not in FORMATS:
        problems.add(where, f"'format' must be one of {', '.join(FORMATS)}, got {fmt!r}")
        fmt = "json"
    elif fmt in ("jt808", "jt808-hex", "jt808-emqx"):
        digits = sum(ch.isdigit() for ch in device_id)
        if not 1 <= digits <= 12:
            problems.add(where, "a JT/T 808 device_id needs 1 to 12 digits (its phone number)")

    anchor: tuple[float, float] | None = None
    if "anchor" not in raw:
        problems.add(where, "'anchor' {lat, lon} is required (a site-day file gives its 'post')")
    else:
        anchor = latlon(raw["anchor"], f"{where} 'anchor'", problems)

    interval = number(raw, "interval_s", where, problems, default=30.0, minimum=1.0)
    accuracy = number(raw, "accuracy_m", where, problems, default=8.0, positive=True)
    correlation = number(raw, "correlation_s", where, problems, default=30.0, minimum=0.0)
    offset = number(raw, "start_offset_s", where, problems, default=0.0, minimum=0.0)
    altitude = number(raw, "altitude_m", where, problems, default=25.0)
    drain = number(raw, "battery_drain_pct_per_h", where, problems, default=4.0, minimum=0.0)
    battery: float | None = 95.0
    if "battery_pct" in raw and raw["battery_pct"] is None:
        battery = None
    else:
        battery = number(raw, "battery_pct", where, problems, default=95.0, minimum=0, maximum=100)
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.add(where, f"'seed' must be a whole number, got {seed!r}")
        seed = 0

    noise = NoiseModel(accuracy_m=accuracy or 8.0, correlation_s=correlation or 0.0)
    multipath = raw.get("multipath")
    if multipath is not None:
        mp_where = f"{where} 'multipath'"
        if not isinstance(multipath, Mapping):
            problems.add(mp_where, "must be a mapping {probability, min_m, max_m}")
        else:
            unknown_keys(
                multipath, frozenset({"probability", "min_m", "max_m"}), mp_where, problems
            )
            prob = number(multipath, "probability", mp_where, problems, minimum=0, maximum=1)
            low = number(multipath, "min_m", mp_where, problems, default=50.0, minimum=0)
            high = number(multipath, "max_m", mp_where, problems, default=200.0, minimum=0)
            if prob is not None and low is not None and high is not None:
                if low > high:
                    problems.add(mp_where, "'min_m' must not exceed 'max_m'")
                else:
                    noise = NoiseModel(noise.accuracy_m, noise.correlation_s, prob, low, high)

    options = _options(fmt, raw.get("options"), where, problems)
    upload_order = raw.get("upload_order", "stored_first")
    if upload_order not in ("stored_first", "live_first"):
        problems.add(
            where, f"'upload_order' must be stored_first or live_first, got {upload_order!r}"
        )

    timeline_raw = raw.get("timeline")
    steps: list[Step] = []
    if not isinstance(timeline_raw, list) or not timeline_raw:
        problems.add(where, "'timeline' must be a non-empty list of steps")
    else:
        for j, step_raw in enumerate(timeline_raw):
            step = _parse_step(step_raw, f"{where} timeline[{j}]", anchor, problems)
            if step is not None:
                steps.append(step)
        if steps and all(isinstance(s, Sos) for s in steps):
            problems.add(where, "the timeline takes no time (it has only 'sos' steps)")
    if anchor is None:
        return None
    spec = TerminalSpec(
        device_id=device_id,
        format=fmt,
        anchor=anchor,
        timeline=tuple(steps),
        interval_s=interval or 30.0,
        noise=noise,
        seed=seed,
        start_offset_s=offset or 0.0,
        altitude_m=25.0 if altitude is None else altitude,
        battery_pct=battery,
        battery_drain_pct_per_h=4.0 if drain is None else drain,
        options=options,
        live_first=upload_order == "live_first",
    )
    try:
        build_timeline(spec)
    except ValueError as exc:
        problems.add(where, str(exc))
        return None
    return spec


def parse_scenario(data: object, source: str = "<scenario>", *, default_name: str = "") -> Scenario:
    """Validate a parsed YAML document; raise ``ScenarioError`` listing every problem."""
    problems = Problems()
    if not isinstance(data, Mapping):
        raise ScenarioError(source, ["the file must hold a mapping with 'terminals'"])
    unknown_keys(data, frozenset({"name", "description", "terminals"}), "", problems)
    terminals: list[TerminalSpec] = []
    raw_terminals = data.get("terminals")
    if not isinstance(raw_terminals, list) or not raw_terminals:
        problems.add("terminals", "must be a non-empty list")
    else:
        seen: dict[str, int] = {}
        for i, raw in enumerate(raw_terminals):
            spec = _parse_terminal(raw, i, problems)
            if spec is None:
                continue
            if spec.device_id in seen:
                problems.add(
                    f"terminals[{i}] ({spec.device_id})",
                    f"device_id already used by terminals[{seen[spec.device_id]}]",
                )
            seen.setdefault(spec.device_id, i)
            terminals.append(spec)
    if problems.items:
        raise ScenarioError(source, problems.items)
    name = data.get("name") or default_name or "scenario"
    return Scenario(str(name), tuple(terminals), str(data.get("description") or ""))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file; raise ``ScenarioError`` when it is invalid.

    The file is a site-day file (``fwsim.scenario.day_spec``, it names a ``site``); it gives its
    GPS terminals, their timelines counting from its ``start``. Any other file is refused.
    ``parse_scenario`` reads the terminals as the site-day loader hands them over (``anchor``,
    ``start_offset_s``, ``until_s``): the in-process rigs and the demo build them directly."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(str(file), [f"cannot read: {exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(str(file), [f"not valid YAML: {exc}"]) from exc
    if not (isinstance(data, Mapping) and "site" in data):
        raise ScenarioError(str(file), [NOT_A_SITE_DAY])
    from fwsim.scenario.day_spec import parse_day_scenario  # it builds on this module

    day = parse_day_scenario(data, str(file), base_dir=file.parent, default_name=file.stem)
    if day.gps is None:
        raise ScenarioError(str(file), ["the site-day file has no GPS terminals"])
    return day.gps
