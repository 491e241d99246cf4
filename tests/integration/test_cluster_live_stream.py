"""A leader's live stream carries his guards' events whichever process decided them, on
PostgreSQL with a private mosquitto: two partitioned gateways built as ``guard-gateway run``
builds them (``tests.fixtures.cluster_nodes``), node ``a`` holding g-001, node ``b`` g-005 (both
of team A). Team A's leader has his page open on ``a``; g-005's terminal sends an SOS, which
``b`` decides. Before, his stream carried ``a``'s events only: the SOS reached him only if his
page was cut and resumed (the history is shared). Now it reaches his stream once, and team B's
leader's stream on ``a`` gets nothing of it."""

from __future__ import annotations

import json
import queue
from datetime import UTC, datetime

import pytest
from pytest_mock import MockerFixture
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from drivers.mqtt.broker import RunningBroker
from gateway.db.models import AlertRow
from gateway.outbox.tables import RECORD_DESTINATION, OutboxRow
from gateway.web.tail import OutboxTail
from tests.e2e.helpers import post_points
from tests.fixtures.api_tokens import new_token
from tests.fixtures.cluster_nodes import HELD_BY_B, Node, join_b
from tests.fixtures.live_gateway import wait_for
from tests.fixtures.mqtt import BrokerPublisher
from tests.integration.test_live_page_api import StreamReader

SITE = "wh-jiangtan-garden"
DEVICE_OF_B = "gps-005"


def events_until_quiet(stream: StreamReader, quiet_s: float) -> list[tuple[str, str]]:
    """``(event, subject)`` of every event block until ``quiet_s`` pass without one."""
    seen = []
    while True:
        try:
            block = stream.next(timeout=quiet_s)
        except queue.Empty:
            return seen
        if "id" in block and block.get("event") not in ("hello", None):
            seen.append((block["event"], json.loads(block["data"])["subject"]))


def test_a_leaders_stream_on_one_process_carries_the_sos_another_process_decided(
    cluster_nodes: list[Node], db_url: str, mqtt_broker: RunningBroker
) -> None:
    a, _b = join_b(cluster_nodes, db_url, mqtt_broker)
    engine = a.gateway.engine
    team_a = new_token(engine, "leader", name="team A", sites=(SITE,), teams=("A",))
    team_b = new_token(engine, "leader", name="team B", sites=(SITE,), teams=("B",))
    mine = StreamReader(a.url, team_a)
    others = StreamReader(a.url, team_b)
    for stream in (mine, others):
        assert stream.next()["event"] == "hello"

    lon, lat = post_points(engine, "jt-plaza").inside
    now = a.gateway.clock.now().isoformat().replace("+00:00", "Z")
    sos = {"time": now, "lat": lat, "lon": lon, "accuracy_m": 8, "alarms": ["sos"]}
    publisher = BrokerPublisher(mqtt_broker.url)

    def raised() -> bool:
        # Again until b's partition client is subscribed: one SOS episode, one alert.
        publisher.publish(f"devices/{DEVICE_OF_B}/json", json.dumps(sos).encode())
        with Session(engine) as session:
            count = session.scalar(
                select(func.count()).select_from(AlertRow).where(AlertRow.guard_id == HELD_BY_B)
            )
        return count == 1

    try:
        wait_for(raised, "b raised no SOS alert", 30)
        assert events_until_quiet(mine, 5) == [("alert.sos", HELD_BY_B)]
        assert events_until_quiet(others, 1) == []
    finally:
        publisher.close()


def outbox_row(event_id: str, at: datetime) -> OutboxRow:
    body = json.dumps({"id": event_id, "data": {"guard_id": HELD_BY_B}})
    return OutboxRow(
        event_id=event_id,
        destination=RECORD_DESTINATION,
        subject=HELD_BY_B,
        type="alert.sos",
        event_time=at,
        body=body,
        created_at=at,
        next_attempt_at=at,
    )


def test_an_event_committed_after_one_with_a_larger_seq_still_reaches_the_streams(
    engine: Engine,
) -> None:
    """Two processes' transactions: the first draws the smaller ``seq`` and commits last."""
    if engine.dialect.name != "postgresql":
        pytest.skip("several writers share the outbox on PostgreSQL")
    relayed: list[list[str]] = []
    tail = OutboxTail(
        engine, lambda batch, _floor: relayed.append([m["id"] for m in batch]), lambda: True
    )
    tail.read()  # begins at the newest row
    at = datetime(2026, 3, 2, 0, 20, tzinfo=UTC)
    slow, quick = Session(engine), Session(engine)
    try:
        slow.add(outbox_row("slow", at))
        slow.flush()  # its seq drawn first
        quick.add(outbox_row("quick", at))
        quick.commit()
        tail.read()  # reads "quick", holds it one read
        tail.read()
        slow.commit()
        tail.read()
        tail.read()
        tail.read()  # nothing new: each was handed on once
    finally:
        slow.close()
        quick.close()
    assert relayed == [["quick"], ["slow"]]


def test_an_event_under_way_when_the_first_stream_opens_reaches_the_streams(
    engine: Engine,
) -> None:
    """Another process draws a ``seq``, a third commits a larger one, and the first page opens
    on this process: its reader began at the newest row, above the one under way, which then
    committed and was never handed on (nor read back from the ids given since)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("several writers share the outbox on PostgreSQL")
    relayed: list[str] = []
    tail = OutboxTail(
        engine, lambda batch, _floor: relayed.extend(m["id"] for m in batch), lambda: True
    )
    at = datetime(2026, 3, 2, 0, 20, tzinfo=UTC)
    slow, before = Session(engine), Session(engine)
    try:
        slow.add(outbox_row("under way", at))
        slow.flush()
        before.add(outbox_row("before the page", at))
        before.commit()
        tail.read()  # the first stream opens: the reader begins
        assert tail.handed_on is not None
        resumes_from = tail.handed_on
        slow.commit()
        tail.read()
        tail.read()
        tail.read()
    finally:
        slow.close()
        before.close()
    assert relayed == ["under way"]  # the row committed before the page opened is not sent
    with Session(engine) as session:
        seq = session.scalar(select(OutboxRow.seq).where(OutboxRow.event_id == "under way"))
    assert seq is not None and resumes_from < seq


def test_a_burst_committed_above_a_gap_reaches_the_streams_read_after_read(
    engine: Engine, mocker: MockerFixture
) -> None:
    """A shift change's burst commits while one transaction holds a smaller ``seq`` open.
    Each read took the rows after the gap again, a page's worth, all read already: the
    rest of the burst waited for the gap to be passed over (``GAP_READS``, 30 s)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("several writers share the outbox on PostgreSQL")
    mocker.patch("gateway.web.tail._ROWS_PER_READ", 5)
    relayed: list[str] = []
    tail = OutboxTail(
        engine, lambda batch, _floor: relayed.extend(m["id"] for m in batch), lambda: True
    )
    tail.read()
    at = datetime(2026, 3, 2, 0, 20, tzinfo=UTC)
    slow, burst = Session(engine), Session(engine)
    try:
        slow.add(outbox_row("slow", at))
        slow.flush()
        for n in range(12):
            burst.add(outbox_row(f"burst-{n:02}", at))
        burst.commit()
        for _ in range(3):  # 5 rows a read, each handed on one read after
            tail.read()
        assert relayed == [f"burst-{n:02}" for n in range(10)]
        tail.read()
        assert relayed == [f"burst-{n:02}" for n in range(12)]
        slow.commit()
        tail.read()
        tail.read()
    finally:
        slow.close()
        burst.close()
    assert relayed == [f"burst-{n:02}" for n in range(12)] + ["slow"]
