"""The ledger's figures: per guard from his stored records, then totals and rates per team and
for the site. Definitions are in docs/ledger.md; every duration is in seconds.

Departures are the rule events' (``presence.departed``/``returned``), not re-decided: a departure
is **covered** by the report or leave the rules attached to it (on the events, or by an
``alert.withdrawn`` naming it), **unreported** otherwise.
"""

from __future__ import annotations

from datetime import datetime
from statistics import median
from typing import Any

from gateway.clock import utc
from gateway.ledger.collect import DayRecords, GuardRecords, LedgerEvent
from gateway.records import Punch, PunchKind
from gateway.rules.patrol_presence import punch_report_id

__all__ = ["LEDGER_VERSION", "build_ledger", "guard_figures", "totals"]

LEDGER_VERSION = 1

_WITHDRAWN_COVER = {"report_on_record": "report", "leave_on_record": "leave"}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def _departures(
    records: GuardRecords,
    shift_ends: dict[str, datetime],
    spans: list[tuple[datetime, datetime]],
    grace_s: float,
) -> list[dict[str, Any]]:
    """The guard's departures of the day's shifts, in time order, from the rule events; each
    with ``in_day_s``, its part inside ``spans`` (the day's shifts, up to when the ledger was
    made), and ``carried_from``: the shift of an earlier day that handed it over (连班 across
    the morning), whose day lists and counts it too; its return, when a later shift took it
    over, from that shift (``GuardRecords.returned_later``)."""
    found: dict[str, dict[str, Any]] = {}
    cover: dict[str, str] = {}
    alerts: dict[str, list[str]] = {}
    holders: dict[str, set[str]] = {}
    departed: set[str] = set()
    carried: dict[str, str] = {}
    for event in records.events:
        dep_id = event.data.get("departure_id")
        if not isinstance(dep_id, str):
            continue
        holders.setdefault(dep_id, set()).add(str(event.data.get("shift_id")))
        if event.type == "presence.arrived":
            _take_over(found, carried, dep_id, event)
            _note_cover(cover, dep_id, event)
        elif event.type in ("presence.departed", "presence.returned"):
            if event.type == "presence.departed":
                departed.add(dep_id)
            started = _parse(event.data.get("started_at")) or event.time
            entry = found.setdefault(
                dep_id,
                {
                    "departure_id": dep_id,
                    "shift_id": event.data.get("shift_id"),
                    "started_at": started,
                    "returned_at": None,
                    "checked_out": False,
                },
            )
            if event.data.get("checked_out"):
                entry["checked_out"] = True
            if event.type == "presence.returned":
                entry["returned_at"] = _parse(event.data.get("returned_at")) or event.time
            _note_cover(cover, dep_id, event)
        elif event.type == "alert.withdrawn":
            how = _WITHDRAWN_COVER.get(str(event.data.get("reason")))
            if how is not None:
                cover.setdefault(dep_id, how)
        elif event.type.startswith("alert."):
            alerts.setdefault(dep_id, []).append(event.type)
    for dep_id, back in records.returned_later.items():  # back in a later day's shift
        if dep_id in found:
            found[dep_id]["returned_at"] = back
    result = []
    for dep_id, entry in sorted(found.items(), key=lambda kv: (kv[1]["started_at"], kv[0])):
        end = entry["returned_at"] or _held_until(holders[dep_id], shift_ends, entry["started_at"])
        duration = _seconds(entry["started_at"], end)
        coverage = cover.get(dep_id, "none")
        result.append(
            {
                "departure_id": dep_id,
                "shift_id": entry["shift_id"],
                "started_at": entry["started_at"],
                "returned_at": entry["returned_at"],
                "checked_out": entry["checked_out"],
                "carried_from": None if dep_id in departed else carried.get(dep_id),
                "duration_s": duration,
                "in_day_s": sum(
                    _seconds(max(a, entry["started_at"]), min(b, end)) for a, b in spans
                ),
                "coverage": coverage,
                "reported": coverage != "none",
                "assessed": duration > grace_s,
                "alerts": sorted(alerts.get(dep_id, [])),
            }
        )
    return result


def _take_over(
    found: dict[str, dict[str, Any]], carried: dict[str, str], dep_id: str, event: LedgerEvent
) -> None:
    """Note an outing a shift took over at its start from the one before at the post
    (``presence.arrived`` with ``continued_from`` and ``away_since``): when that shift is an
    earlier day's, no ``presence.departed`` of it is in this day's events, and this is where
    the outing enters the day (from the shift's start; the day before keeps its part)."""
    previous, since = event.data.get("continued_from"), _parse(event.data.get("away_since"))
    if not isinstance(previous, str) or since is None:
        return
    carried.setdefault(dep_id, previous)
    found.setdefault(
        dep_id,
        {
            "departure_id": dep_id,
            "shift_id": event.data.get("shift_id"),
            "started_at": since,
            "returned_at": None,
            "checked_out": False,
        },
    )


def _held_until(
    holders: set[str], shift_ends: dict[str, datetime], started_at: datetime
) -> datetime:
    """Where an outing with no return ends: at the end of the last of the day's shifts that
    held it. A double shift (连班) takes over the outing under way at the change
    (``presence.arrived`` with its ``departure_id``, then *left early* from the second shift),
    so a guard who checked out at 09:00 of 08:00-10:00 + 10:00-12:00 was away until 12:00."""
    return max((shift_ends[s] for s in holders if s in shift_ends), default=started_at)


def _note_cover(cover: dict[str, str], dep_id: str, event: LedgerEvent) -> None:
    if event.data.get("leave_id"):
        cover[dep_id] = "leave"
    elif event.data.get("report_id"):
        cover[dep_id] = "report"


def guard_figures(records: GuardRecords, day: DayRecords, as_of: datetime) -> dict[str, Any]:
    """One guard's row of the ledger (datetimes still as objects; see ``build_ledger``). Time
    after ``as_of`` (a shift still running, or to come) is neither on post nor away."""
    shift_ends = {s.id: min(s.ends_at, as_of) for s in records.shifts}
    scheduled = sum(_seconds(s.starts_at, s.ends_at) for s in records.shifts)
    arrivals = {
        str(e.data.get("shift_id")): e.time for e in records.events if e.type == "presence.arrived"
    }
    spans = [(s.starts_at, shift_ends[s.id]) for s in records.shifts]
    departures = _departures(records, shift_ends, spans, day.policy.report_grace_s)
    present = 0.0
    for shift in records.shifts:
        arrived = arrivals.get(shift.id)
        if arrived is not None:
            present += _seconds(max(arrived, shift.starts_at), shift_ends[shift.id])
    away = {"report": 0.0, "leave": 0.0, "none": 0.0}
    for dep in departures:
        away[dep["coverage"]] += dep["in_day_s"]
    cancellations = {
        str(e.data.get("leave_id")): bool(e.data.get("in_time"))
        for e in records.events
        if e.type == "leave.cancelled"
    }
    return {
        "guard_id": records.guard.id,
        "name": records.guard.name,
        "team": records.guard.team,
        "kept_by_load": records.kept,
        "shifts": [
            {
                "shift_id": s.id,
                "post_id": s.post_id,
                "starts_at": s.starts_at,
                "ends_at": s.ends_at,
                "cut_short": s.cut_short,
                "known_from": s.known_from,
                "arrived_at": arrivals.get(s.id),
            }
            for s in records.shifts
        ],
        "scheduled_s": scheduled,
        "on_post_s": max(0.0, present - sum(away.values())),
        "away_reported_s": away["report"],
        "away_on_leave_s": away["leave"],
        "away_unreported_s": away["none"],
        "departures": departures,
        "reports": _reports(records),
        "leaves": [
            {
                "leave_id": leave.id,
                "starts_at": leave.starts_at,
                "ends_at": leave.ends_at,
                "approved_by": leave.approved_by,
                "status": leave.status,
                "cancelled_at": leave.cancelled_at,
                "cancelled_in_time": cancellations.get(leave.id),
            }
            for leave in records.leaves
        ],
        "alerts": [
            {
                "alert_id": a.id,
                "type": a.type,
                "opened_at": a.opened_at,
                "acknowledged_at": a.acknowledged_at,
                "acknowledged_by": a.acknowledged_by,
                "ack_latency_s": None
                if a.acknowledged_at is None
                else _seconds(a.opened_at, a.acknowledged_at),
                "resolved_at": a.resolved_at,
                "resolution": a.resolution,
            }
            for a in records.alerts
        ],
        "patrol": _patrol(records),
        "punches": [
            {"punched_at": p.punched_at, "kind": p.kind, "terminal_id": p.terminal_id}
            for p in records.punches
        ],
    }


def _reports(records: GuardRecords) -> list[dict[str, Any]]:
    """His verbal reports in time order: those typed in (``reports`` rows, ``terminal_id``
    null) and the break-out punches (外出) the rules took as one on duty, which no row holds:
    the report a departure names (``punch_report_id``) is then listed with it."""
    typed = [
        {
            "report_id": r.id,
            "reported_at": r.reported_at,
            "received_at": r.received_at,
            "destination": r.destination,
            "terminal_id": None,
        }
        for r in records.reports
    ]
    punched = [
        {
            "report_id": punch_report_id(
                Punch(
                    terminal_id=p.terminal_id,
                    person_id=p.person_id,
                    punched_at=utc(p.punched_at),
                    received_at=utc(p.received_at),
                    kind=PunchKind.BREAK_OUT,
                )
            ),
            "reported_at": utc(p.punched_at),
            "received_at": utc(p.received_at),
            "destination": None,
            "terminal_id": p.terminal_id,
        }
        for p in records.punches
        if p.kind == PunchKind.BREAK_OUT.value and p.id in records.punch_shifts
    ]
    return sorted([*typed, *punched], key=lambda r: (utc(r["reported_at"]), r["report_id"]))


def _patrol(records: GuardRecords) -> dict[str, int]:
    """Scans, checkpoints scanned for a round (late ones among them), checkpoints missed for
    good, rounds settled. The checkpoints missed for good are the missed alerts less those a
    late scan resolved (``resolved_missed``) and the withdrawn ones (a leave typed in
    afterwards excused the window). A round walked with an offline wand is judged on its
    download, so its late scans resolve nothing: no alert was raised for them. (A scan stored
    before ``resolved_missed`` existed resolved one when it was late and not excused.)"""
    scanned = [e for e in records.events if e.type == "patrol.checkpoint_scanned"]
    late = [e for e in scanned if e.data.get("counted") and e.data.get("late")]
    resolving = sum(1 for e in late if e.data.get("resolved_missed", not e.data.get("excused")))
    missed = sum(1 for e in records.events if e.type == "alert.checkpoint_missed")
    missed -= sum(
        1
        for e in records.events
        if e.type == "alert.withdrawn" and e.data.get("withdrawn_type") == "alert.checkpoint_missed"
    )
    return {
        "scans": len(scanned),
        "checkpoints_scanned": sum(1 for e in scanned if e.data.get("counted")),
        "checkpoints_late": len(late),
        "checkpoints_missed": max(0, missed - resolving),
        "rounds_completed": sum(1 for e in records.events if e.type == "patrol.round_completed"),
    }


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


def totals(guards: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums and rates over ``guards`` (rows of ``guard_figures``); definitions in the docs."""
    # An outing carried over from an earlier day's shift is counted there, where it began
    # and was judged (its report owed, its unreported and overtime alerts): a run of days
    # counts it once. Its time away in this day is in the sums all the same.
    departures = [d for g in guards for d in g["departures"] if not d.get("carried_from")]
    assessed = [d for d in departures if d["assessed"]]
    alerts = [a for g in guards for a in g["alerts"]]
    latencies = [a["ack_latency_s"] for a in alerts if a["ack_latency_s"] is not None]
    leaves = [leave for g in guards for leave in g["leaves"]]
    patrol = {
        key: sum(g["patrol"][key] for g in guards)
        for key in (
            "scans",
            "checkpoints_scanned",
            "checkpoints_late",
            "checkpoints_missed",
            "rounds_completed",
        )
    }
    due = patrol["checkpoints_scanned"] + patrol["checkpoints_missed"]
    sums = {
        key: sum(g[key] for g in guards)
        for key in (
            "scheduled_s",
            "on_post_s",
            "away_reported_s",
            "away_on_leave_s",
            "away_unreported_s",
        )
    }
    return {
        "guards": len(guards),
        "shifts": sum(len(g["shifts"]) for g in guards),
        **sums,
        "departures": len(departures),
        "departures_reported": sum(1 for d in departures if d["coverage"] == "report"),
        "departures_on_leave": sum(1 for d in departures if d["coverage"] == "leave"),
        "departures_unreported": sum(1 for d in departures if d["coverage"] == "none"),
        "departures_assessed": len(assessed),
        "report_timeliness_rate": _rate(sum(1 for d in assessed if d["reported"]), len(assessed)),
        "on_post_rate": None
        if not sums["scheduled_s"]
        else round(sums["on_post_s"] / sums["scheduled_s"], 4),
        "leaves": len(leaves),
        "leaves_cancelled": sum(1 for leave in leaves if leave["status"] == "cancelled"),
        "leaves_cancelled_in_time": sum(1 for leave in leaves if leave["cancelled_in_time"]),
        "alerts": len(alerts),
        "alerts_acknowledged": len(latencies),
        "acknowledgement_rate": _rate(len(latencies), len(alerts)),
        "ack_latency_median_s": None if not latencies else float(median(latencies)),
        "ack_latency_max_s": None if not latencies else float(max(latencies)),
        **patrol,
        "patrol_completion_rate": _rate(patrol["checkpoints_scanned"], due),
        "punches": sum(len(g["punches"]) for g in guards),
    }


def build_ledger(day: DayRecords, generated_at: datetime) -> dict[str, Any]:
    """The whole ledger of the day as JSON-ready data (times ISO 8601 UTC strings)."""
    guards = [guard_figures(records, day, generated_at) for records in day.guards]
    teams: dict[str, list[dict[str, Any]]] = {}
    for guard in guards:
        teams.setdefault(guard["team"] or "", []).append(guard)
    ledger = {
        "version": LEDGER_VERSION,
        "site_id": day.site.id,
        "site_name": day.site.name,
        "date": day.day.isoformat(),
        "timezone": day.site.timezone,
        "window": {"from": day.starts_at, "to": day.ends_at},
        "generated_at": generated_at,
        "policy": {
            "report_grace_s": day.policy.report_grace_s,
            "verbal_report_limit_s": day.policy.verbal_report_limit_s,
            "leave_cancel_limit_s": day.policy.leave_cancel_limit_s,
        },
        "guards": guards,
        "teams": [
            {"team": team or None, **totals(members)} for team, members in sorted(teams.items())
        ],
        "site": totals(guards),
    }
    result: dict[str, Any] = _jsonable(ledger)
    return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
