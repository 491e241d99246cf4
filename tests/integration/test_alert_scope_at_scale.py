"""A leader of a site of 70,000 guards lists his alerts: his scope is a subquery, not a list of
ids (PostgreSQL refuses more than 65,535 parameters in one statement)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.api.audit import guards_in_scope, list_alerts_within
from gateway.api.tokens import Principal, Role
from gateway.bench.common import write_roster
from gateway.db.alert_batch import AlertOpen, apply_alert_changes

GUARDS = 70_000
AT = datetime(2026, 3, 2, 8, 11, tzinfo=UTC)


def test_a_leader_of_a_city_site_lists_his_alerts(engine: Engine) -> None:
    write_roster(engine, guards=GUARDS, starts=[AT] * GUARDS, posts=10, loaded_at=AT)
    last = f"g-{GUARDS - 1:06d}"
    with Session(engine) as session, session.begin():
        apply_alert_changes(
            session,
            [
                AlertOpen(
                    alert_key=f"{last}:absent",
                    type="alert.absent_at_shift_start",
                    guard_id=guard,
                    at=AT,
                    event_id=f"e-{guard}",
                    shift_id=None,
                    site_id="bench",
                    post_id=None,
                    data={},
                )
                for guard in (last,)
            ],
        )
    leader = Principal("t-1", "leader", Role.LEADER, sites=frozenset({"bench"}))
    elsewhere = Principal("t-2", "other", Role.LEADER, sites=frozenset({"another"}))
    with Session(engine) as session:
        scope = guards_in_scope(session, leader)
        assert scope is not None and len(scope) == GUARDS
        assert [a.guard_id for a in list_alerts_within(session, leader)] == [last]
        assert [a.guard_id for a in list_alerts_within(session, leader, guard_id=last)] == [last]
        assert list_alerts_within(session, leader, guard_id="g-000000") == []
        assert list_alerts_within(session, elsewhere) == []
