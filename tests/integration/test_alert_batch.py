"""The alert changes of a batch applied in bulk (``gateway.db.alert_batch.apply_alert_changes``):
in one call, in order, they leave exactly the rows one-by-one writes gave, stored as SQLAlchemy
stores them, and the one ``SELECT`` of the keys tells which ended alerts had been escalated.
The batches of a whole tick through the processor are in ``test_emitter_bulk``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from gateway.db.alert_batch import AlertOpen, AlertResolve, apply_alert_changes
from gateway.db.models import AlertRow
from gateway.outbox.cloudevents import make_event_id
from tests.fixtures.sql_statements import Statements

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ABSENT = "alert.absent_at_shift_start"


def _alerts(engine: Engine) -> list[AlertRow]:
    with Session(engine) as session:
        return list(session.scalars(select(AlertRow).order_by(AlertRow.id)))


def test_changes_applied_in_order_give_the_rows_of_one_by_one_writes(engine: Engine) -> None:
    """Open, update, resolve (ended, then withdrawn over it), an unknown key, and a key
    opened after its resolution was seen: in one call, in order."""
    at = START

    def opened(key: str, event_id: str, minutes: int, data: dict[str, Any]) -> AlertOpen:
        return AlertOpen(
            alert_key=key,
            type="alert.departed",
            guard_id="g-1",
            at=at + timedelta(minutes=minutes),
            event_id=event_id,
            shift_id="s-1",
            site_id="city",
            post_id="p-1",
            data=data,
        )

    def resolved(key: str, event_id: str, minutes: int, how: str) -> AlertResolve:
        return AlertResolve(
            alert_key=key,
            at=at + timedelta(minutes=minutes),
            by=None,
            event_id=event_id,
            resolution=how,
            event_key=f"ev:{event_id}",
        )

    with Session(engine) as session, session.begin():
        apply_alert_changes(session, [opened("stored", "e0", 0, {"n": 0})])
    with Session(engine) as session, session.begin():
        done = apply_alert_changes(
            session,
            [
                opened("stored", "e1", 1, {"n": 1}),
                opened("new", "e2", 2, {"n": 2}),
                resolved("new", "e3", 3, "ended"),
                resolved("new", "e4", 4, "withdrawn"),
                resolved("late", "e5", 5, "ended"),
                opened("late", "e6", 6, {"n": 6}),
                resolved("stored", "e7", 7, "ended"),
                resolved("stored", "e8", 8, "ended"),
            ],
        )
    assert (done.opened, done.updated, done.unknown) == (2, 1, [("ev:e5", "late")])
    rows = {r.alert_key: r for r in _alerts(engine)}
    assert [r.alert_key for r in _alerts(engine)] == ["stored", "new", "late"]
    stored, new, late = rows["stored"], rows["new"], rows["late"]
    assert (stored.status, stored.resolution, stored.last_event_id, stored.data) == (
        "resolved",
        "ended",
        "e7",
        {"n": 1},
    )
    assert (stored.opened_at, stored.resolved_at, stored.updated_at) == (
        at,
        at + timedelta(minutes=7),
        at + timedelta(minutes=7),
    )
    assert (new.status, new.resolution, new.last_event_id, new.resolved_at) == (
        "resolved",
        "withdrawn",
        "e4",
        at + timedelta(minutes=3),
    )
    assert (late.status, late.resolution, late.last_event_id, late.escalated_to) == (
        "open",
        None,
        "e6",
        None,
    )


def test_an_alert_opened_in_bulk_is_stored_as_sqlalchemys_insert_stores_it(engine: Engine) -> None:
    """The bulk insert binds plain tuples (``gateway.db.driver_rows``): an alert it opens reads
    back, as stored text, exactly as the same alert inserted through SQLAlchemy, times in any
    zone stored as UTC, non-ASCII data kept, ``escalated_to`` SQL NULL (not JSON null)."""
    beijing = timezone(timedelta(hours=8))
    change = AlertOpen(
        alert_key="fast",
        type=ABSENT,
        guard_id="g-1",
        at=(START + timedelta(minutes=10, microseconds=250)).astimezone(beijing),
        event_id=make_event_id("fast"),
        shift_id="s-1",
        site_id=None,
        post_id="p-1",
        data={"guard_name": "张三", "post_name": "东门", "n": 1, "ok": None},
    )
    with Session(engine) as session, session.begin():
        assert apply_alert_changes(session, [change]).opened == 1
        session.add(
            AlertRow(
                alert_key="orm",
                type=change.type,
                guard_id=change.guard_id,
                shift_id=change.shift_id,
                site_id=change.site_id,
                post_id=change.post_id,
                opened_at=change.at,
                updated_at=change.at,
                status="open",
                last_event_id=change.event_id,
                data=dict(change.data),
            )
        )
    columns = [c.name for c in AlertRow.__table__.columns if c.name not in ("id", "alert_key")]
    listed = ", ".join(
        f"CAST({name} AS TEXT)" if name in ("opened_at", "updated_at", "data") else name
        for name in columns
    )
    with engine.connect() as conn:
        raw = {
            row[0]: tuple(row[1:])
            for row in conn.execute(text(f"SELECT alert_key, {listed} FROM alerts"))
        }
        null_escalations = conn.scalar(
            text("SELECT count(*) FROM alerts WHERE escalated_to IS NULL")
        )
    assert raw["fast"] == raw["orm"]
    assert null_escalations == 2
    [fast, _orm] = _alerts(engine)
    assert fast.opened_at == START + timedelta(minutes=10, microseconds=250)
    assert fast.data == change.data


def test_the_select_of_the_keys_tells_which_ended_alerts_had_been_escalated(
    engine: Engine,
) -> None:
    """Alerts ``a`` (escalated to m-1 and m-2) and ``b`` (not) ended by one event, ``c``
    (escalated, already resolved by hand) ended again by another, ``d`` (escalated, ended)
    withdrawn by a third, ``e`` escalated and ended by two events in turn: only the changes
    that settle an escalated alert say to whom it went, found by the one ``SELECT`` of the
    keys every batch makes."""
    keys = ("a", "b", "c", "d", "e")
    with Session(engine) as session, session.begin():
        apply_alert_changes(
            session,
            [
                AlertOpen(
                    alert_key=key,
                    type=ABSENT,
                    guard_id="g-1",
                    at=START,
                    event_id=f"open-{key}",
                    shift_id="s-1",
                    site_id="city",
                    post_id="p-1",
                    data={},
                )
                for key in keys
            ],
        )
        rows = {r.alert_key: r for r in session.scalars(select(AlertRow))}
        for key, to in (("a", ["m-1", "m-2"]), ("c", ["m-2"]), ("d", ["m-3"]), ("e", ["m-1"])):
            rows[key].escalated_at, rows[key].escalated_to = START, to
        rows["c"].status, rows["c"].resolution = "resolved", "by_hand"
        rows["d"].status, rows["d"].resolution = "resolved", "ended"

    def ended(key: str, event_id: str, how: str = "ended") -> AlertResolve:
        return AlertResolve(
            alert_key=key,
            at=START + timedelta(minutes=5),
            by=None,
            event_id=event_id,
            resolution=how,
            event_key=f"ev:{event_id}",
        )

    statements = Statements(engine)
    statements.on = True
    with Session(engine) as session, session.begin():
        done = apply_alert_changes(
            session,
            [
                ended("a", "e1"),
                ended("b", "e1"),
                ended("c", "e2"),
                ended("d", "e3", "withdrawn"),
                ended("e", "e4"),
                ended("e", "e5"),
            ],
        )
    statements.on = False
    assert done.escalated == {"e1": ["m-1", "m-2"], "e3": ["m-3"], "e4": ["m-1"]}
    touching = [s for s, _ in statements.touching("alerts")]
    assert [s.split()[0] for s in touching] == ["SELECT"] + ["UPDATE"] * (len(touching) - 1)
    # The escalation is read, never written back.
    assert len(touching) > 1 and not any("escalated_to" in s for s in touching[1:])
    assert [(a.alert_key, a.resolution, a.escalated_to) for a in _alerts(engine)] == [
        ("a", "ended", ["m-1", "m-2"]),
        ("b", "ended", None),
        ("c", "by_hand", ["m-2"]),
        ("d", "withdrawn", ["m-3"]),
        ("e", "ended", ["m-1"]),
    ]
