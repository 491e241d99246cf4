"""Expected events of a site-day scenario, and how delivered events are judged against them.

An expectation (``expect:`` in the file)::

    - event: alert.unreported_departure   # the CloudEvent type
      guard: g-001                        # optional: the event's subject (the guard)
      at: "08:17:30"                      # optional: its time, +- within_s (default 60)
      within_s: 90
      after: "08:15"                      # or a window (either end optional)
      before: "08:20"
      data: {post_id: pz-gate}            # optional: fields its data must hold (equal values)
      count: 1                            # optional, default 1; 0 = must not be delivered

Judging (``judge``): expectations are taken in file order; each claims every delivered event
that matches it and no earlier expectation claimed, and passes when it claimed exactly
``count`` (one event too many fails it as surely as one too few). With ``no_other_alerts``
(the default), an ``alert.*`` event no expectation claimed fails the check; other unclaimed
events are listed.
The event's time is the gateway's (CloudEvent ``time``), not when it reached the core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fwsim.scenario.fields import Problems, unknown_keys

__all__ = ["Expectation", "Verdict", "event_time", "judge", "parse_expectation", "render_table"]

_KEYS = frozenset({"event", "guard", "at", "within_s", "after", "before", "data", "count"})


@dataclass(frozen=True, slots=True)
class Expectation:
    """One expected (or, with ``count`` 0, forbidden) event."""

    event: str
    guard: str | None = None
    after: datetime | None = None
    before: datetime | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    count: int = 1

    def matches(self, event: Mapping[str, Any]) -> bool:
        if event.get("type") != self.event:
            return False
        if self.guard is not None and event.get("subject") != self.guard:
            return False
        when = event_time(event)
        if self.after is not None and (when is None or when < self.after):
            return False
        if self.before is not None and (when is None or when > self.before):
            return False
        data = event.get("data") or {}
        return all(k in data and data[k] == v for k, v in self.data.items())

    def describe(self, zone: ZoneInfo) -> str:
        parts = [self.event + ("" if self.count == 1 else f" x{self.count}")]
        if self.guard:
            parts.append(self.guard)
        if self.after or self.before:
            low = f"{self.after.astimezone(zone):%H:%M:%S}" if self.after else ""
            high = f"{self.before.astimezone(zone):%H:%M:%S}" if self.before else ""
            parts.append(f"{low}..{high}")
        parts += [f"{k}={v}" for k, v in self.data.items()]
        return " ".join(parts)


ParseTime = Callable[[object, str, Problems], datetime | None]


def parse_expectation(
    raw: object, where: str, parse_time: ParseTime, p: Problems
) -> Expectation | None:
    """Validate one ``expect:`` item; ``None`` (problems recorded) when it is invalid."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("event"), str):
        p.add(where, "an expectation is a mapping with at least 'event: <type>'")
        return None
    unknown_keys(raw, _KEYS, where, p)
    after = before = None
    if "at" in raw:
        if "after" in raw or "before" in raw:
            p.add(where, "give 'at' (with 'within_s') or 'after'/'before', not both")
        at = parse_time(raw["at"], f"{where} 'at'", p)
        within = raw.get("within_s", 60)
        if not isinstance(within, int | float) or isinstance(within, bool) or within < 0:
            p.add(where, f"'within_s' must be a number >= 0, got {within!r}")
            within = 60
        if at is not None:
            after, before = at - timedelta(seconds=within), at + timedelta(seconds=within)
    else:
        after = parse_time(raw["after"], f"{where} 'after'", p) if "after" in raw else None
        before = parse_time(raw["before"], f"{where} 'before'", p) if "before" in raw else None
    data = raw.get("data") or {}
    if not isinstance(data, Mapping):
        p.add(where, "'data' must be a mapping of field: value")
        data = {}
    count = raw.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        p.add(where, f"'count' must be a whole number >= 0, got {count!r}")
        count = 1
    guard = raw.get("guard")
    return Expectation(
        raw["event"], None if guard is None else str(guard), after, before, dict(data), count
    )


def event_time(event: Mapping[str, Any]) -> datetime | None:
    """The CloudEvent's ``time`` as an aware datetime (``None`` when absent or malformed)."""
    try:
        return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Verdict:
    """One row of the table: ``expectation`` is ``None`` for an unexpected event."""

    passed: bool
    expectation: Expectation | None
    events: tuple[Mapping[str, Any], ...]
    note: str = ""


def judge(
    expectations: Sequence[Expectation],
    events: Sequence[Mapping[str, Any]],
    *,
    no_other_alerts: bool = True,
) -> list[Verdict]:
    """The verdict of each expectation, then one per unclaimed event (module docstring)."""
    claimed: set[int] = set()
    verdicts: list[Verdict] = []
    for exp in expectations:
        matching = [i for i, e in enumerate(events) if i not in claimed and exp.matches(e)]
        taken = matching  # one too many is this expectation's failure, not an unexpected event
        claimed.update(taken)
        got = len(matching)
        note = "" if got == exp.count else f"{got} delivered, {exp.count} expected"
        verdicts.append(Verdict(got == exp.count, exp, tuple(events[i] for i in taken), note))
    for i, event in enumerate(events):
        if i in claimed:
            continue
        is_alert = str(event.get("type", "")).startswith("alert.")
        failing = no_other_alerts and is_alert
        note = "unexpected alert" if failing else "not expected (listed only)"
        verdicts.append(Verdict(not failing, None, (event,), note))
    return verdicts


def _event(event: Mapping[str, Any], zone: ZoneInfo) -> str:
    when = event_time(event)
    at = f"{when.astimezone(zone):%H:%M:%S}" if when else "?"
    return f"{at} {event.get('type')} {event.get('subject', '')}".rstrip()


def render_table(verdicts: Sequence[Verdict], zone: ZoneInfo) -> str:
    """The pass/fail table ``fwsim check`` prints: result, expected, delivered, note."""
    rows = [("result", "expected", "delivered", "note")]
    for v in verdicts:
        result = "PASS" if v.passed else "FAIL"
        if v.expectation is None:
            result = "FAIL" if not v.passed else "info"
        expected = v.expectation.describe(zone) if v.expectation else "-"
        delivered = "; ".join(_event(e, zone) for e in v.events) or "-"
        rows.append((result, expected, delivered, v.note))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip()
        for r in rows
    )
