"""A leader's token revoked while his live page is open: the page's event stream over real
HTTP, the sample site served as ``run`` serves it. SQLite and PostgreSQL.

docs/api.md: "``token revoke ID`` ends a token at once". 刘建国 (team A) is moved off the site,
or loses his phone, and the operator revokes his token at 08:03. Every request with it gets
401; the stream he opened at 08:00 went on carrying team A's positions and alerts for as long
as the connection lived (the token was checked once, when it opened). Now it carries nothing
more and ends, while a colleague's stream goes on.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.api.tokens import digest, revoke_token
from gateway.db.auth_models import ApiTokenRow
from tests.fixtures.live_gateway import SITE, LiveGateway, at, served_sample_site
from tests.integration.test_live_page_api import StreamReader


@pytest.fixture
def live(engine: Engine) -> Iterator[LiveGateway]:
    with served_sample_site(engine) as gateway:
        yield gateway


def drained(stream: StreamReader, quiet_s: float) -> list[str]:
    """The events the stream carried until ``quiet_s`` passed without one."""
    events: list[str] = []
    try:
        while True:
            events.append(stream.next(timeout=quiet_s).get("event", "?"))
    except queue.Empty:
        return events


def test_a_revoked_leaders_open_stream_carries_nothing_more_and_ends(live: LiveGateway) -> None:
    token = live.token("leader", "jt-leader-a", sites=(SITE,), teams=("A",))
    colleague = live.token("leader", "jt-leader-a2", sites=(SITE,), teams=("A",))
    revoked = StreamReader(live.url, token)
    kept = StreamReader(live.url, colleague)
    try:
        assert revoked.next()["event"] == "hello" and kept.next()["event"] == "hello"
        with Session(live.engine) as session, session.begin():
            row = session.scalar(
                select(ApiTokenRow).where(ApiTokenRow.token_sha256 == digest(token))
            )
            assert row is not None
            revoke_token(session, row.id, at(3))
        assert live.client(token).get("/whereabouts").status_code == 401
        live.walk("gps-001", 1, 5, inside=True)
        live.walk("gps-001", 5, 8, inside=False)
        # The colleague's stream shows what the revoked one would have carried.
        assert {"presence.arrived", "presence.departed"} <= set(drained(kept, 3))
        assert drained(revoked, 1) == []
        revoked.join(timeout=5)
        assert not revoked.reading(), "the revoked token's stream is still open"
    finally:
        revoked.close()
        kept.close()
