"""Site-day scenario files: a whole day on one site, with the events the gateway must deliver.

One YAML file says what happens on the site (GPS terminals, checkpoint readers, clock-in
terminals, leaders' actions through the API, the gateway killed and restarted) at absolute times
of day, and what the management core must receive. ``fwsim check`` plays it
(``fwsim.scenario.check``); the format is documented in ``docs/scenarios.md``.

Times of day (``"08:14:30"``, ``"08:14"``) are local to ``timezone`` on ``date``; a time earlier
than ``start`` is the next day (a night shift crossing midnight). Every problem is collected and
reported at once in a ``ScenarioError``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as default
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from fwsim.scenario.day_actions import ACTION_KINDS, Action, parse_action
from fwsim.scenario.expect import Expectation, parse_expectation
from fwsim.scenario.field_spec import FieldScenario, parse_field_scenario
from fwsim.scenario.fields import Problems, is_number, unknown_keys
from fwsim.scenario.loader import parse_scenario
from fwsim.scenario.model import Scenario, ScenarioError
from fwsim.scenario.site_anchor import post_anchors

__all__ = ["DayScenario", "TimeBase", "load_day_scenario", "parse_day_scenario"]

_TOP_KEYS = frozenset(
    {
        "name",
        "description",
        "policy",
        "site",
        "date",
        "timezone",
        "start",
        "end",
        "rate",
        "settle_s",
        "shifts",
        "terminals",
        "readers",
        "clock_in",
        "wands",
        "actions",
        "expect",
        "no_other_alerts",
    }
)
_FIELD_ACTIONS = frozenset({"scan", "bad_checksum", "unplug", "replug", "present_nfc", "punch"})


@dataclass(frozen=True, slots=True)
class TimeBase:
    """Turns a file's times of day into instants: ``start`` is the scenario's first instant."""

    start: datetime
    zone: ZoneInfo

    def parse(self, raw: object, where: str, problems: Problems) -> datetime | None:
        """``"HH:MM[:SS]"`` on the start's local day (the next day when earlier than the start)."""
        text = str(raw) if isinstance(raw, str | int) else ""
        try:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            clock = time(parts[0], parts[1], parts[2] if len(parts) == 3 else 0)
            local = datetime.combine(self.start.astimezone(self.zone).date(), clock)
        except (ValueError, TypeError):
            problems.add(where, f"a time of day is 'HH:MM' or 'HH:MM:SS', got {raw!r}")
            return None
        when = local.replace(tzinfo=self.zone)
        if when < self.start:
            when += timedelta(days=1)
        return when

    def offset_s(self, when: datetime) -> float:
        return (when - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class DayScenario:
    """A validated site-day file. ``site`` is the site document (a mapping with ``sites``);
    ``gps`` the GPS terminals (their timelines count from ``start``); ``field`` the readers and
    clock-in terminals with their actions; ``actions`` the API and gateway actions in time
    order; ``expect`` the expected events; ``end`` when the play stops (events delivered up to
    ``settle_s`` wall seconds later still count)."""

    name: str
    description: str
    site: dict[str, Any]
    zone: ZoneInfo
    start: datetime
    end: datetime
    rate: float
    gps: Scenario | None
    field: FieldScenario | None
    actions: tuple[Action, ...]
    expect: tuple[Expectation, ...]
    no_other_alerts: bool = True
    settle_s: float = 3.0
    leaders: dict[str, str] = default(default_factory=dict)
    """Leader id -> team, from the site (the API tokens are issued per leader)."""
    wands: dict[str, float] = default(default_factory=dict)
    """The offline patrol wands of the day, id -> how far ahead their clock runs (s)."""


def _site(raw: object, base: Path | None, problems: Problems) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return copy.deepcopy(dict(raw))
    if not isinstance(raw, str):
        problems.add("site", "a site file path (relative to this file) or an inline site document")
        return {}
    path = (base / raw) if base is not None and not Path(raw).is_absolute() else Path(raw)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        problems.add("site", f"cannot read {path}: {exc}")
        return {}
    if not isinstance(doc, dict):
        problems.add("site", f"{path} does not hold a site document")
        return {}
    return doc


def _terminal(raw: object, i: int, base: TimeBase, anchors: Mapping[str, Any], p: Problems) -> Any:
    """A GPS terminal as the GPS loader reads it: ``post`` becomes ``anchor``, ``at`` becomes
    ``start_offset_s``, each step's ``until`` becomes ``until_s``."""
    if not isinstance(raw, Mapping):
        return raw
    where = f"terminals[{i}]"
    out = dict(raw)
    if "post" in out:
        post = out.pop("post")
        if post not in anchors:
            p.add(where, f"'post' {post!r} is not a post of the site ({', '.join(anchors)})")
        else:
            out["anchor"] = {"lat": anchors[post][0], "lon": anchors[post][1]}
    if "at" in out:
        when = base.parse(out.pop("at"), f"{where} 'at'", p)
        out["start_offset_s"] = base.offset_s(when) if when else 0.0
    steps = out.get("timeline")
    if isinstance(steps, list):
        converted = []
        for j, step in enumerate(steps):
            if isinstance(step, Mapping) and len(step) == 1:
                kind, args = next(iter(step.items()))
                if isinstance(args, Mapping) and "until" in args:
                    args = dict(args)
                    when = base.parse(args.pop("until"), f"{where} timeline[{j}] 'until'", p)
                    args["until_s"] = base.offset_s(when) if when else 0.0
                step = {kind: args}
            converted.append(step)
        out["timeline"] = converted
    return out


def parse_day_scenario(
    data: object,
    source: str = "<scenario>",
    *,
    base_dir: Path | None = None,
    default_name: str = "",
) -> DayScenario:
    """Validate a parsed site-day document; raise ``ScenarioError`` listing every problem."""
    if not isinstance(data, Mapping):
        raise ScenarioError(source, ["the file must hold a mapping (site, date, start, ...)"])
    p = Problems()
    unknown_keys(data, _TOP_KEYS, "", p)
    zone_name = str(data.get("timezone", "Asia/Shanghai"))
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScenarioError(source, [f"unknown 'timezone' {zone_name!r}"]) from None
    try:
        day = date.fromisoformat(str(data.get("date")))
        first = datetime.combine(day, time(0)).replace(tzinfo=zone)
    except ValueError:
        raise ScenarioError(
            source, [f"'date' must be YYYY-MM-DD, got {data.get('date')!r}"]
        ) from None
    midnight = TimeBase(first, zone)
    start = midnight.parse(data.get("start"), "start", p) or first
    base = TimeBase(start, zone)
    end = base.parse(data.get("end"), "end", p) or start
    if end <= start:
        p.add("end", "must be after 'start'")
    rate = data.get("rate", 60)
    if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
        p.add("rate", f"must be a positive number, got {rate!r}")
        rate = 60
    settle = data.get("settle_s", 3.0)
    if not isinstance(settle, int | float) or isinstance(settle, bool) or settle < 0:
        p.add("settle_s", f"must be a number >= 0, got {settle!r}")
        settle = 3.0
    site = _site(data.get("site"), base_dir, p)
    if "policy" in data:  # limits changed for this day (merged into its first site's policy)
        if not isinstance(data["policy"], Mapping) or not site.get("sites"):
            p.add("policy", "a mapping of policy fields, for a site with sites")
        else:
            first_site = site["sites"][0]
            first_site["policy"] = {**(first_site.get("policy") or {}), **data["policy"]}
    if "shifts" in data:  # the day's roster replaces the site's (its first site)
        if not isinstance(data["shifts"], list) or not site.get("sites"):
            p.add("shifts", "a list of shifts as a site file writes them, for a site with sites")
        else:
            site["sites"][0]["shifts"] = data["shifts"]
    anchors = post_anchors(site, p)
    wands = _wands(data.get("wands"), site, p)

    gps: Scenario | None = None
    terminals = data.get("terminals")
    if terminals:
        raw = [_terminal(t, i, base, anchors, p) for i, t in enumerate(terminals)]
        try:
            gps = parse_scenario({"name": data.get("name", default_name), "terminals": raw}, source)
        except ScenarioError as exc:
            p.items += exc.problems

    actions: list[Action] = []
    field_timeline: list[dict[str, Any]] = []
    for i, item in enumerate(data.get("actions") or []):
        where = f"actions[{i}]"
        if not isinstance(item, Mapping) or "at" not in item:
            p.add(where, "an action is a mapping {at: 'HH:MM:SS', <action>: {...}}")
            continue
        when = base.parse(item["at"], f"{where} 'at'", p)
        kinds = [k for k in item if k != "at"]
        if when is None or len(kinds) != 1:
            if len(kinds) != 1:
                known = ", ".join(sorted(ACTION_KINDS | _FIELD_ACTIONS))
                p.add(where, f"give exactly one action ({known})")
            continue
        if kinds[0] in _FIELD_ACTIONS:
            field_timeline.append({"at_s": base.offset_s(when), kinds[0]: item[kinds[0]]})
            continue
        action = parse_action(kinds[0], item[kinds[0]], when, base.parse, where, p)
        if action is not None:
            actions.append(action)

    field: FieldScenario | None = None
    if data.get("readers") or data.get("clock_in") or field_timeline:
        section = {
            "timezone": zone_name,
            "readers": data.get("readers") or [],
            "terminals": data.get("clock_in") or [],
            "timeline": field_timeline,
        }
        try:
            field = parse_field_scenario({"field_devices": section}, source)
        except ScenarioError as exc:
            p.items += [i.replace("field_devices.terminals", "clock_in") for i in exc.problems]

    expect = [
        e
        for i, raw in enumerate(data.get("expect") or [])
        if (e := parse_expectation(raw, f"expect[{i}]", base.parse, p)) is not None
    ]
    no_other = data.get("no_other_alerts", True)
    if not isinstance(no_other, bool):
        p.add("no_other_alerts", "must be true or false")
    if p.items:
        raise ScenarioError(source, p.items)
    leaders = {
        str(ld["id"]): str(ld.get("team", ""))
        for s in site.get("sites", [])
        for ld in s.get("leaders", [])
    }
    return DayScenario(
        name=str(data.get("name") or default_name or "scenario"),
        description=str(data.get("description") or ""),
        site=site,
        zone=zone,
        start=start,
        end=end,
        rate=float(rate),
        gps=gps,
        field=field,
        actions=tuple(sorted(actions, key=lambda a: a.at)),
        expect=tuple(expect),
        no_other_alerts=no_other is True,
        settle_s=float(settle),
        leaders=leaders,
        wands=wands,
    )


def _wands(raw: object, site: dict[str, Any], p: Problems) -> dict[str, float]:
    """``wands: [{id, guard | post, drift_s?}]``: offline wands the day's guards carry (or
    kept at a post), added to the site's first site as ``patrol_wand`` devices."""
    if raw is None:
        return {}
    if not isinstance(raw, list) or not site.get("sites"):
        p.add("wands", "a list of {id, guard or post, drift_s}, for a site with sites")
        return {}
    out: dict[str, float] = {}
    devices = site["sites"][0].setdefault("devices", [])
    for i, item in enumerate(raw):
        where = f"wands[{i}]"
        if not isinstance(item, Mapping):
            p.add(where, "a mapping {id, guard or post, drift_s}")
            continue
        unknown_keys(item, frozenset({"id", "guard", "post", "drift_s"}), where, p)
        wand_id, drift = item.get("id"), item.get("drift_s", 0)
        holders = [k for k in ("guard", "post") if k in item]
        if not isinstance(wand_id, str) or not wand_id or wand_id in out:
            p.add(where, f"'id' must be a new non-empty text, got {wand_id!r}")
        elif len(holders) != 1:
            p.add(where, "give the 'guard' who carries it or the 'post' that keeps it")
        elif not is_number(drift):
            p.add(where, f"'drift_s' must be a number, got {drift!r}")
        else:
            out[wand_id] = float(drift)
            devices.append({"id": wand_id, "kind": "patrol_wand", holders[0]: item[holders[0]]})
    return out


def load_day_scenario(path: str | Path) -> DayScenario:
    """Read and validate a site-day file; ``ScenarioError`` when it is invalid."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(str(file), [f"cannot read: {exc}"]) from exc
    return parse_day_scenario(data, str(file), base_dir=file.parent, default_name=file.stem)
