"""The repository's queries and writes, on SQLite and PostgreSQL, over the sample Wuhan site."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.db import repository as repo
from gateway.db.models import PositionRow, PresenceStateRow, ReportRow
from gateway.records import Alarm, PositionFix
from gateway.samples import WUHAN_SITE
from gateway.site import load_site_file
from tests.fixtures.roster_queries import active_shifts, shift_for_device

# Monday 2026-03-02 11:00 in Wuhan (UTC+8): day team A on duty.
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    load_site_file(WUHAN_SITE, engine, NOW)
    with Session(engine) as s:
        yield s
        s.rollback()


def test_active_shifts_at_eleven_are_the_day_team(session: Session) -> None:
    rows = active_shifts(session, NOW)
    assert [r.guard_id for r in rows] == ["g-001", "g-002", "g-003", "g-004", "g-005"]
    assert rows[0].starts_at == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert rows[0].ends_at == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_shift_boundaries_are_half_open(session: Session) -> None:
    handover = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 20:00 local
    assert shift_for_device(session, "gps-001", handover) is None
    ctx = shift_for_device(session, "gps-006", handover)
    assert ctx is not None and ctx.starts_at == handover


def test_shift_for_device_gives_guard_post_site_and_policy(session: Session) -> None:
    ctx = shift_for_device(session, "gps-005", NOW)
    assert ctx is not None
    assert (ctx.guard_id, ctx.guard_name, ctx.team) == ("g-005", "周勇", "A")
    assert (ctx.post_id, ctx.post_kind, ctx.datum) == ("jt-plaza", "fixed", "gcj02")
    assert ctx.fence["type"] == "Circle"
    assert (ctx.site_id, ctx.site_timezone) == ("wh-jiangtan-garden", "Asia/Shanghai")
    assert ctx.policy.verbal_report_limit_s == 900
    assert ctx.device_id == "gps-005"
    assert ctx.shift_id == "g-005/jt-plaza/20260302T000000Z"


def test_shift_for_device_is_none_off_duty_or_for_an_unknown_device(session: Session) -> None:
    assert shift_for_device(session, "gps-009", NOW) is None  # night team, at 11:00
    assert shift_for_device(session, "gps-999", NOW) is None


def test_presence_states_are_inserted_then_updated_in_bulk(session: Session) -> None:
    shift_a = "g-001/jt-gate-north/20260302T000000Z"
    shift_b = "g-002/jt-gate-east/20260302T000000Z"
    assert repo.load_presence_state(session, shift_a) is None

    def row(shift_id: str, guard_id: str, state: dict[str, str], minutes: float | None) -> dict:
        due = None if minutes is None else NOW + timedelta(minutes=minutes)
        return {
            "shift_id": shift_id,
            "guard_id": guard_id,
            "state": state,
            "next_deadline": due,
            "updated_at": NOW,
        }

    repo.save_presence_states(
        session,
        [row(shift_a, "g-001", {"phase": "away"}, 5), row(shift_b, "g-002", {"phase": "on"}, 1)],
        stored=set(),
    )
    repo.save_presence_states(
        session, [row(shift_b, "g-002", {"phase": "x"}, None)], stored={shift_a, shift_b}
    )
    session.commit()
    assert repo.load_presence_state(session, shift_a) == {"phase": "away"}
    assert repo.load_presence_state(session, shift_b) == {"phase": "x"}
    saved = session.get(PresenceStateRow, shift_b)
    assert saved is not None and saved.next_deadline is None


def test_reports_are_recorded_for_known_guards_only(session: Session) -> None:
    report = repo.add_report(
        session,
        guard_id="g-003",
        reported_at=NOW,
        received_at=NOW + timedelta(seconds=2),
        expected_return_at=NOW + timedelta(minutes=10),
        destination="便利店",
        reason="买水",
        reported_to="jt-leader-a",
    )
    session.commit()
    found = session.get(ReportRow, report.id)
    assert found is not None and found.guard_id == "g-003"
    assert found.expected_return_at == NOW + timedelta(minutes=10)
    with pytest.raises(repo.NotFound, match="g-404"):
        repo.add_report(session, guard_id="g-404", reported_at=NOW, received_at=NOW)
    with pytest.raises(repo.InvalidRequest):
        repo.add_report(
            session,
            guard_id="g-003",
            reported_at=NOW,
            received_at=NOW,
            expected_return_at=NOW - timedelta(minutes=1),
        )


def test_leave_is_approved_then_cancelled_once(session: Session) -> None:
    leave = repo.add_leave(
        session,
        guard_id="g-004",
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=1),
        approved_by="jt-leader-a",
        approved_at=NOW - timedelta(minutes=5),
        reason="医院复诊",
    )
    assert leave.status == "approved"
    overlapping = repo.leaves_overlapping(
        session, "g-004", NOW + timedelta(minutes=30), NOW + timedelta(hours=2)
    )
    assert [x.id for x in overlapping] == [leave.id]
    assert (
        repo.leaves_overlapping(session, "g-004", NOW + timedelta(hours=1), NOW + timedelta(days=1))
        == []
    )

    back = NOW + timedelta(minutes=50)
    cancelled = repo.cancel_leave(session, leave.id, back)
    session.commit()
    assert (cancelled.status, cancelled.cancelled_at) == ("cancelled", back)
    with pytest.raises(repo.Conflict, match="already cancelled"):
        repo.cancel_leave(session, leave.id, back + timedelta(minutes=1))
    with pytest.raises(repo.NotFound):
        repo.cancel_leave(session, "no-such-leave", back)
    with pytest.raises(repo.NotFound):
        repo.add_leave(
            session,
            guard_id="g-404",
            starts_at=NOW,
            ends_at=NOW + timedelta(hours=1),
            approved_by="x",
            approved_at=NOW,
        )
    with pytest.raises(repo.InvalidRequest):
        repo.add_leave(
            session,
            guard_id="g-004",
            starts_at=NOW,
            ends_at=NOW,
            approved_by="x",
            approved_at=NOW,
        )


def test_alert_is_one_per_episode_then_acknowledged_then_resolved(session: Session) -> None:
    key = "alert.overtime_departure:g-001/jt-gate-north/20260302T000000Z:2026-03-02T02:40:00Z"
    alert, created = repo.open_or_update_alert(
        session,
        alert_key=key,
        alert_type="alert.overtime_departure",
        guard_id="g-001",
        shift_id="g-001/jt-gate-north/20260302T000000Z",
        site_id="wh-jiangtan-garden",
        post_id="jt-gate-north",
        at=NOW,
        event_id="ev-1",
        data={"duration_s": 960},
    )
    assert created and alert.status == "open"
    again, created = repo.open_or_update_alert(
        session,
        alert_key=key,
        alert_type="alert.overtime_departure",
        guard_id="g-001",
        at=NOW + timedelta(minutes=1),
        event_id="ev-2",
        data={"duration_s": 1020},
    )
    assert not created and again.id == alert.id
    assert (again.last_event_id, again.data, again.opened_at) == ("ev-2", {"duration_s": 1020}, NOW)
    assert [a.id for a in repo.open_alerts(session, "g-001")] == [alert.id]

    ack_at = NOW + timedelta(minutes=2)
    acked = repo.acknowledge_alert(session, key, by="jt-leader-a", at=ack_at)
    assert (acked.status, acked.acknowledged_by, acked.acknowledged_at) == (
        "acknowledged",
        "jt-leader-a",
        ack_at,
    )
    # The first acknowledgement is the evidence: a second one does not overwrite it.
    repo.acknowledge_alert(session, alert.id, by="someone-else", at=ack_at + timedelta(minutes=1))
    assert acked.acknowledged_by == "jt-leader-a"

    done_at = NOW + timedelta(minutes=3)
    resolved = repo.resolve_alert(session, key, at=done_at, event_id="ev-3")
    repo.resolve_alert(session, key, at=done_at + timedelta(minutes=5), by="jt-leader-a")
    session.commit()
    assert (resolved.status, resolved.resolved_at, resolved.resolved_by) == (
        "resolved",
        done_at,
        None,
    )
    assert resolved.last_event_id == "ev-3"
    assert repo.open_alerts(session) == []
    with pytest.raises(repo.NotFound):
        repo.acknowledge_alert(session, "no-such-alert", by="x", at=NOW)
    with pytest.raises(repo.NotFound):
        repo.resolve_alert(session, 999_999, at=NOW)


def test_insert_positions_writes_many_fixes_in_one_statement(session: Session) -> None:
    fixes = [
        PositionFix(
            device_id="gps-001",
            fix_time=NOW + timedelta(seconds=i),
            received_at=NOW + timedelta(seconds=i, milliseconds=300),
            lat=30.6047 + i * 1e-6,
            lon=114.2946,
            accuracy_m=8.5,
            speed_mps=0.4,
            alarms=frozenset({Alarm.SOS}) if i == 0 else frozenset(),
            source_format="owntracks",
            raw='{"_type":"location"}',
        )
        for i in range(500)
    ]
    rows = [
        repo.position_values(f, guard_id="g-001", shift_id="s", membership="inside", distance_m=0.0)
        for f in fixes
    ]
    new = repo.insert_positions(session, rows)
    assert new == [True] * 500
    assert repo.insert_positions(session, []) == []
    session.commit()
    assert session.scalar(select(func.count()).select_from(PositionRow)) == 500

    # The same (device, fix time) again, re-encoded (other coordinates), beside two new fixes:
    # only the new ones are stored and returned; the first copy stays as it was.
    again = [
        rows[0]._replace(lat=30.7),
        rows[1]._replace(fix_time=NOW + timedelta(seconds=1000)),
        rows[2]._replace(device_id="gps-002"),
    ]
    assert repo.insert_positions(session, again) == [False, True, True]
    session.commit()
    assert session.scalar(select(func.count()).select_from(PositionRow)) == 502
    first = session.scalars(
        select(PositionRow).where(PositionRow.guard_id == "g-001").order_by(PositionRow.fix_time)
    ).first()
    assert first is not None
    assert first.fix_time == NOW
    assert first.received_at == NOW + timedelta(milliseconds=300)
    assert first.alarms == ["sos"]
    assert first.lat == 30.6047
    assert (first.membership, first.accuracy_m, first.raw) == (
        "inside",
        8.5,
        '{"_type":"location"}',
    )


def test_list_alerts_is_newest_first_and_filters_by_status_and_guard(session: Session) -> None:
    for i, guard in enumerate(["g-001", "g-002", "g-001"]):
        repo.open_or_update_alert(
            session,
            alert_key=f"k{i}",
            alert_type="alert.device_silent",
            guard_id=guard,
            at=NOW + timedelta(minutes=i),
            event_id=f"e{i}",
        )
    repo.resolve_alert(session, "k0", at=NOW + timedelta(minutes=5))
    assert [a.alert_key for a in repo.list_alerts(session)] == ["k2", "k1", "k0"]
    assert [a.alert_key for a in repo.list_alerts(session, guard_id="g-001")] == ["k2", "k0"]
    assert [a.alert_key for a in repo.list_alerts(session, status="open")] == ["k2", "k1"]
    assert [a.alert_key for a in repo.list_alerts(session, limit=1)] == ["k2"]
