"""Shared by the pipeline, API and end-to-end tests: the sample Wuhan site at a fixed instant,
points inside and outside its posts, and fixes built around them.

The sample site's day team works 08:00-20:00 Asia/Shanghai (00:00-12:00 UTC); ``DAY_START`` is
the start of one such shift, and the site is loaded at that instant so its roster lines expand
around it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.db.models import AlertRow
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.duty_load import load_duties
from gateway.records import PositionFix
from gateway.site.loader import load_site_file
from geofence import PostFence

__all__ = [
    "DAY_START",
    "SAMPLE_SITE",
    "PostPoints",
    "day_shift_id",
    "fix_at",
    "load_sample_site",
    "outbox_rows",
    "post_points",
    "roster_site",
    "state_in_metrics",
]

SAMPLE_SITE = Path(__file__).resolve().parents[2] / "gateway" / "samples" / "wuhan-site.yaml"
DAY_START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
"""08:00 Asia/Shanghai on Monday 2 March 2026: a day shift of team A starts."""


def load_sample_site(engine: Engine, now: datetime = DAY_START, path: Path = SAMPLE_SITE) -> None:
    """Store the site file at ``path`` (default: the sample) as loaded at ``now``."""
    load_site_file(path, engine, now)


def roster_site(
    tmp_path: Path,
    terminals: list[tuple[str, str, str]],
    *,
    hours: Mapping[str, tuple[str, str]] | None = None,
) -> Path:
    """The sample site (same posts, leaders, policy) with only the guards given as
    ``(guard_id, post_id, device_id)``, each wearing that terminal, 08:00-20:00 every day.

    A guard listed twice wears both terminals (a badge and a phone, say). ``hours`` gives a
    guard other daily hours (local ``(start, end)``): ``("08:00", "09:00")`` for a short shift,
    ``("20:00", "08:00")`` for the night team."""
    doc: dict[str, Any] = yaml.safe_load(SAMPLE_SITE.read_text("utf-8"))
    site = doc["sites"][0]
    wanted = {guard for guard, _, _ in terminals}
    site["guards"] = [g for g in site["guards"] if g["id"] in wanted]
    site["devices"] = [{"id": dev, "kind": "gps", "guard": guard} for guard, _, dev in terminals]
    posts = {guard: post for guard, post, _ in terminals}
    site["shifts"] = [
        {
            "guard": guard,
            "post": post,
            "days": "daily",
            "start": (hours or {}).get(guard, ("08:00", "20:00"))[0],
            "end": (hours or {}).get(guard, ("08:00", "20:00"))[1],
        }
        for guard, post in posts.items()
    ]
    path = tmp_path / "roster-site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def double_shift_site(tmp_path: Path, *, night_end: str = "08:00") -> Path:
    """The sample site with g-001 also on the night before at the north gate
    (20:00-``night_end``, every day): a double shift when it ends at 08:00."""
    doc: dict[str, Any] = yaml.safe_load(SAMPLE_SITE.read_text("utf-8"))
    night = {"guard": "g-001", "post": "jt-gate-north", "days": "daily"}
    doc["sites"][0]["shifts"].append({**night, "start": "20:00", "end": night_end})
    path = tmp_path / "double-shift.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def day_shift_id(guard_id: str, post_id: str, start: datetime = DAY_START) -> str:
    """The id the roster gives the shift (guard, post, UTC start)."""
    return f"{guard_id}/{post_id}/{start:%Y%m%dT%H%M%SZ}"


@dataclass(frozen=True, slots=True)
class PostPoints:
    """WGS-84 ``(lon, lat)`` points around a post: its centre and one ``away_m`` north of it."""

    fence: PostFence
    inside: tuple[float, float]
    outside: tuple[float, float]


def post_points(engine: Engine, post_id: str, away_m: float = 300.0) -> PostPoints:
    """Points of ``post_id``'s fence as the gateway loads it (GCJ-02 converted to WGS-84); the
    post must be kept by someone at 08:01 or 20:01 on the day of ``DAY_START``."""
    with Session(engine) as session:
        duties = load_duties(session, DAY_START)
    fence = next(
        d.fence
        for at in (DAY_START + timedelta(minutes=1), DAY_START + timedelta(hours=12, minutes=1))
        for d in duties.active(at)
        if d.post_id == post_id
    )
    centre = fence.wgs84.centroid
    x, y = fence.projection.forward(centre.x, centre.y)
    out_lon, out_lat = fence.projection.inverse(x, y + away_m)
    return PostPoints(fence, (centre.x, centre.y), (out_lon, out_lat))


def fix_at(
    device_id: str,
    at: datetime,
    where: tuple[float, float],
    *,
    accuracy_m: float | None = 8.0,
    received_after_s: float = 1.0,
    **extra: Any,
) -> PositionFix:
    """A fix of ``device_id`` taken at ``at`` at ``where`` = (lon, lat), received shortly after."""
    lon, lat = where
    return PositionFix(
        device_id=device_id,
        fix_time=at,
        received_at=at + timedelta(seconds=received_after_s),
        lat=lat,
        lon=lon,
        accuracy_m=accuracy_m,
        source_format="json",
        **extra,
    )


def outbox_rows(engine: Engine) -> list[OutboxRow]:
    """Every outbox row in ``seq`` order (detached: safe to read after the session closes)."""
    with Session(engine, expire_on_commit=False) as session:
        rows = list(session.scalars(select(OutboxRow).order_by(OutboxRow.seq)))
        session.expunge_all()
        return rows


def core_events(engine: Engine, type_: str, guard_id: str) -> list[dict[str, Any]]:
    """``guard_id``'s events of ``type_`` bound for the core, in order: each its data with its
    ``time``."""
    out = []
    for row in outbox_rows(engine):
        body = json.loads(row.body)
        if row.destination == "core" and row.type == type_ and body["data"]["guard_id"] == guard_id:
            out.append({"time": body["time"], **body["data"]})
    return out


def alert_rows(
    engine: Engine, type_: str, guard_id: str
) -> list[tuple[datetime, datetime | None, str | None]]:
    """``(opened_at, resolved_at, resolution)`` of ``guard_id``'s alerts of ``type_``, in
    order."""
    with Session(engine) as session:
        rows = session.scalars(
            select(AlertRow)
            .where(AlertRow.guard_id == guard_id, AlertRow.type == type_)
            .order_by(AlertRow.id)
        )
        return [(r.opened_at, r.resolved_at, r.resolution) for r in rows]


def gate_site(
    site_id: str,
    now: datetime,
    guards: list[dict[str, Any]],
    devices: list[dict[str, Any]],
) -> dict[str, Any]:
    """A site file (UTC, silences not watched) with one gate post, ``guards`` (their ``id``
    and what else each carries: pin, cards) on duty there from a minute before ``now`` for
    eight hours, and ``devices`` at the post."""
    start = (now - timedelta(minutes=1)).replace(second=0, microsecond=0, tzinfo=None)
    end = start + timedelta(hours=8)
    return {
        "sites": [
            {
                "id": site_id,
                "name": site_id.replace("-", " "),
                "timezone": "UTC",
                "policy": {"device_silent_s": 7200},
                "posts": [
                    {
                        "id": "gate",
                        "name": "gate",
                        "kind": "fixed",
                        "datum": "wgs84",
                        "fence": {"type": "Circle", "center": [114.3085, 30.5928], "radius_m": 30},
                    }
                ],
                "leaders": [],
                "guards": [{"name": g["id"], "team": "A", **g} for g in guards],
                "devices": devices,
                "shifts": [
                    {
                        "guard": g["id"],
                        "post": "gate",
                        "start": start.strftime("%Y-%m-%dT%H:%M"),
                        "end": end.strftime("%Y-%m-%dT%H:%M"),
                    }
                    for g in guards
                ],
            }
        ]
    }


def state_in_metrics(api_url: str, family: str, label: str, name: str) -> str | None:
    """The ``state`` set to 1 for ``label=name`` in the gauge ``family`` of the ``/metrics`` at
    ``api_url`` (``guard_gateway_reader_state``, ``reader``, ``em-gate``); ``None`` when it is
    not reported, or the process does not answer."""
    try:
        text = httpx.get(f"{api_url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    found = [
        labels["state"]
        for line in text.splitlines()
        if line.startswith(family + "{") and line.endswith("} 1.0")
        for labels in [dict(re.findall(r'(\w+)="([^"]*)"', line))]
        if labels.get(label) == name
    ]
    return found[0] if len(found) == 1 else None
