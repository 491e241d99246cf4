"""Shared by the end-to-end tests of the field's hard cases (docs/presence-rules.md): the rig
fixture, the real HTTP API over the rig's gateway, and how the tests read what the core got.

Every hard-case test runs simulated terminals (``fwsim``) publishing over a private Mosquitto to
the gateway as ``build_gateway`` wires it, on one ``ManualClock``, and checks the events the
core stub received: which, in which order, at which device time, each once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from drivers.mqtt.broker import RunningBroker
from gateway.bootstrap import ApiServer
from tests.e2e.helpers import DAY_START
from tests.e2e.rig import Rig, running_rig
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.mqtt import BrokerPublisher

__all__ = [
    "Api",
    "ApiFactory",
    "RigFactory",
    "api",
    "approve_leave",
    "at",
    "core_events",
    "of",
    "rig_factory",
    "timeline",
    "when",
]

RigFactory = Callable[..., Rig]
Api = httpx.Client
ApiFactory = Callable[[Rig], Api]


@pytest.fixture
def rig_factory(
    db_url: str,
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    tmp_path: Path,
) -> Iterator[RigFactory]:
    """``rig_factory(roster, hours=..., **settings)`` starts a rig (see ``running_rig``); it is
    stopped after the test."""
    stack: list[Any] = []

    def make(roster: list[tuple[str, str, str]], **settings: Any) -> Rig:
        context = running_rig(db_url, mqtt_broker.url, mqtt_publisher, tmp_path, roster, **settings)
        rig = context.__enter__()
        stack.append(context)
        return rig

    yield make
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def api() -> Iterator[ApiFactory]:
    """``api(rig)``: an HTTP client on the gateway's real API, served by uvicorn over the rig's
    gateway app on a free loopback port, with an admin token (stopped after the test)."""
    started: list[tuple[ApiServer, httpx.Client]] = []

    def make(rig: Rig) -> Api:
        server = ApiServer(rig.gateway.app)
        token = new_token(rig.gateway.engine)
        client = httpx.Client(base_url=server.start(), timeout=10, headers=bearer(token))
        started.append((server, client))
        return client

    yield make
    for server, client in reversed(started):
        client.close()
        server.stop()


def at(minutes: float) -> datetime:
    """Clock time ``minutes`` after 08:00 Asia/Shanghai (``DAY_START``)."""
    return DAY_START + timedelta(minutes=minutes)


def when(event: dict[str, Any]) -> datetime:
    """An event's ``time`` (device time of what it reports)."""
    return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))


def core_events(rig: Rig) -> list[dict[str, Any]]:
    """Every event the core stub received, once everything in the outbox was delivered: each
    exactly once, in outbox order, none refused for its signature."""
    rows = rig.delivered()
    events = rig.stub.events
    assert [e["id"] for e in events] == [r.event_id for r in rows]
    assert rig.stub.duplicates == [] and rig.stub.rejected == 0
    return events


def timeline(events: list[dict[str, Any]], subject: str) -> list[tuple[str, datetime]]:
    """``(type, time)`` of the events about ``subject``, in the order the core got them."""
    return [(e["type"], when(e)) for e in events if e["subject"] == subject]


def of(events: list[dict[str, Any]], type_: str, subject: str | None = None) -> dict[str, Any]:
    """The one event of ``type_`` (about ``subject``, if given)."""
    found = [
        e for e in events if e["type"] == type_ and (subject is None or e["subject"] == subject)
    ]
    assert len(found) == 1, f"{type_}: {len(found)} events"
    return found[0]


def approve_leave(
    client: Api,
    starts_at: datetime,
    ends_at: datetime,
    approved_at: datetime,
    *,
    guard_id: str = "g-001",
    **extra: Any,
) -> str:
    """The leader (``jt-leader-a``) types in ``guard_id``'s leave through ``POST /leaves``;
    returns its id."""
    answer = client.post(
        "/leaves",
        json={
            "guard_id": guard_id,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "approved_by": "jt-leader-a",
            "approved_at": approved_at.isoformat(),
            **extra,
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])
