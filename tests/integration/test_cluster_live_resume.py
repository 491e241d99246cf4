"""A leader's page resumed after a cut in a partitioned gateway gets the event another process
committed with a smaller ``seq`` than the last one it received; PostgreSQL, a partitioned
gateway built as ``guard-gateway run`` builds it (``tests.fixtures.cluster_nodes``), over real
HTTP.

Team A's leader has his page open on node ``a``. Another process's pipeline inserts an SOS of
his guard g-005 (its ``seq`` drawn) and is slow to commit; meanwhile ``a`` decides an SOS of
g-001, whose ``seq`` is larger, and his page receives it at once. His phone then loses the
network, the slow transaction commits, the other streams open on ``a`` (the control room's)
carry g-005's SOS, and the page comes back naming the last event it got. It asked for the
events after that one's ``seq``: g-005's SOS, below it, was never shown. Now
the stream's ids carry a resume floor, and the page is sent g-005's SOS, once, and not again
the event it named.
"""

from __future__ import annotations

import json
import queue
import re
import time
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from drivers.mqtt.broker import RunningBroker
from gateway.db.models import AlertRow
from tests.e2e.helpers import post_points
from tests.fixtures.api_tokens import new_token
from tests.fixtures.cluster_nodes import HELD_BY_A, Node
from tests.fixtures.live_gateway import wait_for
from tests.fixtures.mqtt import BrokerPublisher
from tests.integration.test_cluster_live_stream import SITE, outbox_row
from tests.integration.test_live_page_api import StreamReader

DEVICE_OF_A = "gps-001"
STREAM_ID = re.compile(r"^[0-9a-f-]{36}@[0-9]+$")
"""An event's id on a partitioned gateway's stream: the event's and a resume floor."""


def blocks_until_quiet(stream: StreamReader, quiet_s: float) -> list[dict[str, str]]:
    """The event blocks (not the ``hello``) the stream carried until ``quiet_s`` passed."""
    blocks = []
    while True:
        try:
            block = stream.next(timeout=quiet_s)
        except queue.Empty:
            return blocks
        if block.get("event") not in ("hello", None):
            blocks.append(block)


def test_a_page_back_after_a_cut_gets_the_event_committed_below_the_last_one_it_received(
    cluster_nodes: list[Node], db_url: str, mqtt_broker: RunningBroker
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL")
    (a,) = cluster_nodes
    engine = a.gateway.engine
    token = new_token(engine, "leader", name="team A", sites=(SITE,), teams=("A",))
    page = StreamReader(a.url, token)
    control_room = StreamReader(a.url, new_token(engine, "admin", name="control room"))
    for stream in (page, control_room):
        assert stream.next()["event"] == "hello"
    time.sleep(1.5)  # the page has been open a while: the outbox's reader has read it

    slow_sos = str(uuid.uuid4())
    slow = Session(engine)  # another process's pipeline, slow to commit
    publisher = BrokerPublisher(mqtt_broker.url)
    try:
        slow.add(outbox_row(slow_sos, a.gateway.clock.now()))
        slow.flush()  # its seq drawn, smaller than any a draws from now on

        lon, lat = post_points(engine, "jt-gate-north").inside
        now = a.gateway.clock.now().isoformat().replace("+00:00", "Z")
        sos = {"time": now, "lat": lat, "lon": lon, "accuracy_m": 8, "alarms": ["sos"]}

        def raised() -> bool:
            # Again until a's partition client is subscribed: one SOS episode, one alert.
            publisher.publish(f"devices/{DEVICE_OF_A}/json", json.dumps(sos).encode())
            with Session(engine) as session:
                count = session.scalar(
                    select(func.count()).select_from(AlertRow).where(AlertRow.guard_id == HELD_BY_A)
                )
            return count == 1

        wait_for(raised, "a raised no SOS alert", 30)
        received = blocks_until_quiet(page, 3)
        assert [b["event"] for b in received][-1:] == ["alert.sos"]
        last = received[-1]
        assert STREAM_ID.match(last["id"]), last["id"]
        fresh = StreamReader(a.url, token)  # opened while the reader runs
        try:
            assert STREAM_ID.match(fresh.next()["id"])
        finally:
            fresh.close()
        page.close()  # his phone in the lift
        slow.commit()

        def relayed() -> bool:  # the outbox's reader has handed it on while the page was away
            return slow_sos in (
                json.loads(b["data"])["id"] for b in blocks_until_quiet(control_room, 0.5)
            )

        wait_for(relayed, "the slow SOS never reached the control room's stream", 10)
    finally:
        page.close()
        control_room.close()
        slow.close()
        publisher.close()

    back = StreamReader(a.url, token, last_event_id=last["id"])
    try:
        assert back.next()["event"] == "hello"
        # Longer than two reads of the outbox: the slow SOS, read back, is not relayed again.
        resumed = blocks_until_quiet(back, 3)
    finally:
        back.close()
    ids = [json.loads(b["data"])["id"] for b in resumed]
    assert ids.count(slow_sos) == 1
    assert json.loads(last["data"])["id"] not in ids
    assert len(set(ids)) == len(ids)
    assert all(STREAM_ID.match(b["id"]) for b in resumed)
