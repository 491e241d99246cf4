"""The actions of a site-day scenario that are not devices: leaders through the API, the gateway.

Leaders act through the gateway's HTTP API with their own token (role ``leader``, scoped to the
site and their team), at the scenario time the action is written at (the API's entry time, the
gateway's clock); the times the body carries (``reported_at``, ``starts``...) are written
separately, so a report entered late says when it was really made.

* ``report: {guard, by, reported_at?, expected_return_at?, destination?, reason?}`` ->
  ``POST /reports`` (``reported_at`` default: the action's time; ``reported_to``: ``by``);
* ``leave: {guard, by, starts, ends, name?, approved_at?, destination?, reason?}`` ->
  ``POST /leaves``; ``name`` lets a later ``cancel_leave`` refer to it;
* ``cancel_leave: {leave: <name>, by, cancelled_at?}`` -> ``POST /leaves/{id}/cancel``;
* ``acknowledge: {alert: <type>, guard, by, note?}`` and ``resolve: {alert, guard, by, note}``
  -> the guard's newest alert of that type, ``POST /alerts/{id}/acknowledge|resolve``;
* ``wand_touch: {wand, tag}``: the guard touches a checkpoint with an offline wand of the
  file's ``wands``; nothing is sent, the wand keeps it (``fwsim.wand``);
* ``wand_download: {wand, by}`` -> ``POST /wands/{id}/downloads?wand_clock=...`` with the
  wand's log, as the leader downloads it;
* ``gateway: kill`` (SIGKILL), ``gateway: stop`` (SIGTERM, a clean shutdown),
  ``gateway: restart`` (a new ``guard-gateway run`` on the same database and broker session).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fwsim.scenario.fields import Problems, unknown_keys

__all__ = ["ACTION_KINDS", "Action", "parse_action"]

ParseTime = Callable[[object, str, Problems], datetime | None]

_KEYS: Mapping[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    # kind: (required, optional, of which times)
    "report": (
        frozenset({"guard", "by"}),
        frozenset({"reported_at", "expected_return_at", "destination", "reason"}),
        frozenset({"reported_at", "expected_return_at"}),
    ),
    "leave": (
        frozenset({"guard", "by", "starts", "ends"}),
        frozenset({"name", "approved_at", "destination", "reason"}),
        frozenset({"starts", "ends", "approved_at"}),
    ),
    "cancel_leave": (
        frozenset({"leave", "by"}),
        frozenset({"cancelled_at"}),
        frozenset({"cancelled_at"}),
    ),
    "acknowledge": (frozenset({"alert", "guard", "by"}), frozenset({"note"}), frozenset()),
    "resolve": (frozenset({"alert", "guard", "by", "note"}), frozenset(), frozenset()),
    "wand_touch": (frozenset({"wand", "tag"}), frozenset(), frozenset()),
    "wand_download": (frozenset({"wand", "by"}), frozenset(), frozenset()),
}
_GATEWAY = ("kill", "stop", "restart")
ACTION_KINDS = frozenset({*_KEYS, "gateway"})


@dataclass(frozen=True, slots=True)
class Action:
    """One action at ``at``: ``kind`` and its arguments, times already instants."""

    at: datetime
    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.kind == "gateway":
            return f"gateway {self.args['do']}"
        if self.kind == "wand_touch":
            return f"wand_touch {self.args['wand']} {self.args['tag']}"
        who = self.args.get("guard") or self.args.get("leave") or self.args.get("wand")
        return f"{self.kind} {who} by {self.args.get('by')}"


def parse_action(
    kind: str, raw: object, at: datetime, parse_time: ParseTime, where: str, p: Problems
) -> Action | None:
    """Validate one action; ``None`` (problems recorded) when it is invalid."""
    where = f"{where} ({kind})"
    if kind == "gateway":
        if raw not in _GATEWAY:
            p.add(where, f"must be one of {', '.join(_GATEWAY)}, got {raw!r}")
            return None
        return Action(at, kind, {"do": raw})
    if kind not in _KEYS:
        known = ", ".join(sorted(ACTION_KINDS))
        p.add(where, f"unknown action; expected one of {known} or a device action")
        return None
    if not isinstance(raw, Mapping):
        p.add(where, "arguments must be a mapping")
        return None
    required, optional, times = _KEYS[kind]
    unknown_keys(raw, required | optional, where, p)
    args: dict[str, Any] = {}
    for key in sorted(required | optional):
        if key not in raw:
            if key in required:
                p.add(where, f"{key!r} is required")
            continue
        value = raw[key]
        if key in times:
            when = parse_time(value, f"{where} {key!r}", p)
            if when is None:
                return None
            args[key] = when
        elif not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
            p.add(where, f"{key!r} must be a non-empty text, got {value!r}")
        else:
            args[key] = str(value)
    if any(k not in args for k in required):
        return None
    if kind == "leave" and args["ends"] <= args["starts"]:
        p.add(where, "'ends' must be after 'starts'")
        return None
    return Action(at, kind, args)
