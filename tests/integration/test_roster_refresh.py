"""The periodic roster refresh (``Processor.read_roster`` then ``adopt_roster``, what the
runtime does every few minutes), on a real database: it reads the roster again but keeps the
rule machines it holds, so a city's states are not parsed again each time. What it must give
is what a full reload gives: shifts new to the window taken (with any state saved for them),
shifts gone dropped, the same deadlines. Fences of a site not loaded again are reused; a site
loaded again is redrawn.

The roster is ``test_deadline_schedule``'s: the sample site with ``n`` more guards on duty.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_mock import MockerFixture
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.models import AlertRow, PresenceStateRow, ShiftRow
from gateway.outbox.tables import OutboxRow
from gateway.pipeline import duty_load, roster_refresh, window_states
from gateway.pipeline import memory as memory_module
from gateway.pipeline.duty import Duty, DutyIndex
from gateway.pipeline.duty_load import load_duties
from gateway.pipeline.processor import Processor
from gateway.pipeline.roster_refresh import RosterRead
from gateway.pipeline.roster_window import RosterFingerprint, roster_fingerprint
from gateway.pipeline.runtime import PipelineRuntime
from gateway.records import Alarm, PositionFix
from gateway.rules import PresenceState
from gateway.rules.copying import replace
from gateway.site import extend as extend_module
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, SAMPLE_SITE, load_sample_site
from tests.integration.test_deadline_schedule import add_days, build

START = DAY_START + timedelta(seconds=30)


def started(engine: Engine) -> tuple[ManualClock, Processor]:
    """A processor at ``START`` on ``engine``'s roster, its shifts' machines started."""
    clock = ManualClock(START)
    processor = Processor(engine, clock)
    processor.tick()
    return clock, processor


def refresh(processor: Processor) -> None:
    """What the runtime's two threads do, on this one: read the roster, then adopt it."""
    read = processor.read_roster()
    if read is not None:
        processor.adopt_roster(read)


def snapshot(processor: Processor) -> dict[str, Any]:
    """What a reload rebuilds: the window's shifts, the machines and their deadlines."""
    memory = processor.memory
    return {
        "shifts": sorted(d.shift_id for d in memory.duties.by_start),
        "presence": {k: v.to_json() for k, v in memory.presence.items()},
        "stored": set(memory.stored),
        "since": dict(memory.presence_since),
        # Machines with a deadline scheduled (a dropped machine's heap entry is left stale,
        # skipped when it comes up: the heap itself may differ).
        "deadlines": len(memory.deadlines),
    }


def test_a_refresh_keeps_each_machine_and_parses_no_state_it_holds(
    engine: Engine, mocker: MockerFixture
) -> None:
    build(engine, 20)
    clock, processor = started(engine)
    held = dict(processor.memory.presence)
    assert len([k for k in held if k.startswith("s-x")]) == 20
    parsed = mocker.spy(PresenceState, "from_json")
    loads = mocker.spy(roster_refresh, "load_duties")
    before = processor.memory.duties
    # Five minutes on, nothing changed: the fingerprint says so, and nothing is read.
    clock.advance(300)
    unchanged = processor.read_roster()
    assert unchanged is not None and unchanged.unchanged
    assert processor.adopt_roster(unchanged) and processor.memory.duties is before
    assert loads.call_count == 0
    # Tomorrow's shifts, added by another process: the roster is read, no state parsed.
    add_days(engine, 20, [-1])
    refresh(processor)
    assert loads.call_count == 1
    assert processor.memory.duties is not before
    assert processor.memory.duties.duty("s-x0019--1") is not None
    assert parsed.call_count == 0
    assert all(processor.memory.presence[k] is machine for k, machine in held.items())
    # The reload it replaces parsed every one.
    processor.reload()
    assert parsed.call_count == len(held)


def test_the_fingerprint_moves_with_each_change_of_the_window(engine: Engine) -> None:
    build(engine, 3)  # today's shifts, 08:00-20:00
    clock, processor = started(engine)

    def fingerprint() -> RosterFingerprint:
        with Session(engine) as session:
            return roster_fingerprint(session, clock.now())

    held = processor.memory.duties.fingerprint
    assert held is not None and fingerprint() == held
    # Added inside the window: the count. Added three days ahead, outside it: nothing.
    add_days(engine, 1, [-1])
    inside = fingerprint()
    assert inside[1:] != held[1:] and inside[1] == held[1] + 1
    add_days(engine, 1, [-3])
    assert fingerprint() == inside
    # A day on, that shift enters the window (it starts two days on): the latest start.
    clock.set(DAY_START + timedelta(days=1, hours=1))
    entered = fingerprint()
    assert entered[3] is not None and inside[3] is not None and entered[3] > inside[3]
    # Past 20:00 two days on, today's shifts leave it: the earliest end.
    clock.set(DAY_START + timedelta(days=2, hours=21))
    left = fingerprint()
    assert left[2] is not None and entered[2] is not None and left[2] > entered[2]
    # A site load: its site's version.
    load_sample_site(engine, DAY_START + timedelta(days=2))
    assert fingerprint()[0] != left[0]


def test_a_refresh_gives_what_a_reload_gives_as_shifts_come_and_go(engine: Engine) -> None:
    build(engine, 6, history_days=4)
    clock, processor = started(engine)
    processor.memory.presence_since["s-x0000-0"] = START
    # Another writer (a roster extended by another process) adds tomorrow's shifts, and one of
    # them already has a saved machine: the refresh must read it, as a reload would.
    add_days(engine, 6, [-1])
    saved = processor.memory.presence["s-x0002-0"].to_json()
    with Session(engine) as session, session.begin():
        session.execute(
            insert(PresenceStateRow),
            [
                {
                    "shift_id": "s-x0002--1",
                    "guard_id": "x0002",
                    "state": saved,
                    "next_deadline": None,
                    "updated_at": START,
                }
            ],
        )
    clock.advance(300)
    refresh(processor)
    refreshed = snapshot(processor)
    assert "s-x0005--1" in refreshed["shifts"]
    assert refreshed["presence"]["s-x0002--1"] == saved
    assert "s-x0002--1" in refreshed["stored"]
    processor.reload()
    assert snapshot(processor) == refreshed
    # Three days on, today's shifts have left the window: their machines leave with them.
    clock.set(DAY_START + timedelta(days=3))
    refresh(processor)
    refreshed = snapshot(processor)
    assert not any(k.endswith("-0") and k.startswith("s-x") for k in refreshed["presence"])
    assert not any(k.endswith("-0") and k.startswith("s-x") for k in refreshed["stored"])
    assert refreshed["since"] == {}
    assert "s-x0002--1" in refreshed["presence"]
    processor.reload()
    assert snapshot(processor) == refreshed


def test_a_refresh_builds_a_duty_only_for_each_shift_new_to_the_window(
    engine: Engine, mocker: MockerFixture
) -> None:
    build(engine, 4)
    add_days(engine, 4, [-1])
    clock, processor = started(engine)
    before = {d.shift_id: d for d in processor.memory.duties.by_start}
    assert sum(1 for s in before if s.startswith("s-x") and s.endswith("--1")) == 4
    built = mocker.spy(duty_load, "Duty")
    # Three days on, today's shifts have left the window and the site's roster lines have
    # given new days' shifts: those alone are built; tomorrow's stay as they were.
    clock.set(DAY_START + timedelta(days=3))
    refresh(processor)
    after = {d.shift_id: d for d in processor.memory.duties.by_start}
    new = after.keys() - before.keys()
    assert new and not any(s.startswith("s-x") for s in new)
    assert built.call_count == len(new)
    stayed = after.keys() & before.keys()
    assert {f"s-x000{i}--1" for i in range(4)} <= stayed
    assert all(after[s] is before[s] for s in stayed)


def test_a_refresh_that_fails_leaves_a_full_reload_to_the_next_transaction(
    engine: Engine, mocker: MockerFixture
) -> None:
    build(engine, 6)
    clock, processor = started(engine)
    add_days(engine, 6, [-1])
    clock.advance(300)
    cut = OperationalError("SELECT", {}, Exception("connection reset"))
    mocker.patch.object(window_states, "saved_states_of", side_effect=cut)
    with pytest.raises(OperationalError):
        refresh(processor)
    mocker.stopall()
    reload = mocker.spy(memory_module.PipelineMemory, "reload")
    refresh(processor)  # memory in doubt: left to the next transaction
    assert reload.call_count == 0
    processor.tick()
    assert reload.call_count == 1
    after_tick = snapshot(processor)
    assert "s-x0005--1" in after_tick["shifts"]
    processor.reload()
    assert snapshot(processor) == after_tick


def _moved_site(tmp_path: Path, east_deg: float) -> Path:
    """The sample site with its first post's polygon moved ``east_deg`` degrees east."""
    doc: dict[str, Any] = yaml.safe_load(SAMPLE_SITE.read_text("utf-8"))
    fence = doc["sites"][0]["posts"][0]["fence"]
    assert fence["type"] == "Polygon"
    fence["coordinates"] = [
        [[lon + east_deg, lat] for lon, lat in ring] for ring in fence["coordinates"]
    ]
    path = tmp_path / "moved.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def described(duty: Duty | None) -> tuple[Any, ...]:
    """Every field of ``duty``, its fence by its drawing (fences compare by identity)."""
    assert duty is not None
    fields = [getattr(duty, name) for name in Duty.__slots__ if name != "fence"]
    return (*fields, duty.fence.wgs84.wkt)


def test_a_refresh_reuses_the_duties_and_fences_of_a_site_not_loaded_again(
    engine: Engine, tmp_path: Path, mocker: MockerFixture
) -> None:
    load_sample_site(engine, DAY_START - timedelta(days=1))
    clock, processor = started(engine)
    index = processor.memory.duties
    before = {d.shift_id: d for d in index.by_start}
    assert before
    devices_read = mocker.spy(duty_load, "_devices")
    # A day on, the window has moved (the roster lines give a new day's shifts): the roster
    # is read again; the shifts still in it keep their very ``Duty`` (so their post's fence,
    # not a copy), and only the new day's are built, as a full load builds them.
    clock.advance(24 * 3600)
    refresh(processor)
    assert processor.memory.duties is not index
    after = {d.shift_id: d for d in processor.memory.duties.by_start}
    kept = after.keys() & before.keys()
    assert kept and after.keys() - before.keys()
    assert all(after[s] is before[s] for s in kept)
    assert devices_read.call_count == 1  # for the new shifts' devices
    with Session(engine) as session:
        full = load_duties(session, clock.now())
    assert sorted(after) == sorted(d.shift_id for d in full.by_start)
    assert all(described(after[s]) == described(full.duty(s)) for s in after)
    reader = next(iter(index.device_zones))
    for lookup in ("timezone_of_device", "site_of_device", "post_of_device", "guard_of_device"):
        assert getattr(processor.memory.duties, lookup)(reader) == getattr(full, lookup)(reader)
    assert processor.memory.duties.clock_in_sites == full.clock_in_sites
    # A site load (by another process) moves the first post 0.01 degrees (about 1 km) east:
    # every post of the site is drawn again, the moved one where it now is.
    post_id = yaml.safe_load(SAMPLE_SITE.read_text("utf-8"))["sites"][0]["posts"][0]["id"]
    load_site_file(_moved_site(tmp_path, 0.01), engine, clock.now())
    clock.advance(300)
    refresh(processor)
    moved = {d.shift_id: d for d in processor.memory.duties.by_start}
    assert all(moved[s] is not after[s] for s in moved if s in after)
    assert all(moved[s].fence is not before[s].fence for s in moved if s in before)
    at_post = [s for s in moved if moved[s].post_id == post_id and s in before]
    assert at_post
    for shift in at_post:
        old_lon = before[shift].fence.wgs84.centroid.x
        assert moved[shift].fence.wgs84.centroid.x == pytest.approx(old_lon + 0.01, abs=1e-4)


def test_a_read_made_before_a_reload_is_not_adopted(engine: Engine) -> None:
    build(engine, 6)
    clock, processor = started(engine)
    add_days(engine, 6, [-1])
    clock.advance(300)
    read = processor.read_roster()
    assert read is not None and read.duties.duty("s-x0005--1") is not None
    processor.reload()  # a rescope or a memory in doubt came between
    reloaded = processor.memory.duties
    assert processor.adopt_roster(read) is False
    assert processor.memory.duties is reloaded


def test_the_runtime_reads_the_roster_beside_the_pipeline_and_adopts_it(
    engine: Engine, mocker: MockerFixture
) -> None:
    build(engine, 6)
    clock, processor = started(engine)
    held = dict(processor.memory.presence)
    readers: list[str] = []
    adopters: list[str] = []

    def load(*args: Any, **kwargs: Any) -> DutyIndex:
        readers.append(threading.current_thread().name)
        return load_duties(*args, **kwargs)

    # Wherever the roster is read: a refresh beside the pipeline, a full reload on it.
    mocker.patch.object(roster_refresh, "load_duties", load)
    mocker.patch.object(memory_module, "load_duties", load)
    adopt = processor.adopt_roster

    def adopt_roster(read: RosterRead) -> bool:
        adopters.append(threading.current_thread().name)
        return adopt(read)

    mocker.patch.object(processor, "adopt_roster", adopt_roster)
    parsed = mocker.spy(PresenceState, "from_json")
    runtime = PipelineRuntime(processor, clock, lambda item: item, roster_refresh_s=0.05)
    runtime.start()
    try:
        add_days(engine, 6, [-1])  # tomorrow's shifts, written by another process
        deadline = time.monotonic() + 10
        while processor.memory.duties.duty("s-x0005--1") is None:
            assert time.monotonic() < deadline, "the runtime never refreshed the roster"
            time.sleep(0.02)
        runtime.wait_idle(5)
    finally:
        runtime.stop()
    # The machines in memory are the truth: none is read again. Each has only learned its
    # guard's next shift, tomorrow's, new to the roster (``adjacent_shifts``).
    assert parsed.call_count == 0
    for key, machine in held.items():
        learned = processor.memory.presence[key]
        assert learned.next_shift_at == machine.shift_start + timedelta(days=1)
        assert replace(learned, next_shift_at=machine.next_shift_at) == machine
    assert readers and set(readers) == {"roster-reader"}
    assert adopters and set(adopters) == {"pipeline"}


def test_a_quick_check_reads_the_roster_only_after_a_site_load(
    engine: Engine, tmp_path: Path
) -> None:
    build(engine, 6)
    clock, processor = started(engine)
    held = processor.memory.duties
    add_days(engine, 6, [-1])  # tomorrow's shifts by another process: the full check's to see
    clock.advance(60)
    assert processor.read_roster(quick=True) is None
    load_site_file(_moved_site(tmp_path, 0.001), engine, clock.now())  # a leader's site load
    read = processor.read_roster(quick=True)
    assert read is not None and read.duties is not held
    assert processor.adopt_roster(read)
    duties = processor.memory.duties
    assert duties.site_versions != held.site_versions
    moved = [d for d in duties.by_start if d.post_id == "jt-gate-north"]
    assert moved and all(d.fence is not held.duty(d.shift_id).fence for d in moved)  # type: ignore[union-attr]
    assert processor.read_roster(quick=True) is None  # nothing loaded since


def test_the_runtime_adopts_a_site_load_within_its_quick_check(
    engine: Engine, tmp_path: Path
) -> None:
    build(engine, 2)
    clock, processor = started(engine)
    held = processor.memory.duties
    # The full check would come in an hour: only the quick one can see the load in time.
    runtime = PipelineRuntime(
        processor, clock, lambda item: item, roster_refresh_s=3600, roster_check_s=0.05
    )
    runtime.start()
    try:
        load_site_file(_moved_site(tmp_path, 0.001), engine, clock.now())
        deadline = time.monotonic() + 10
        while processor.memory.duties is held:
            assert time.monotonic() < deadline, "the runtime never saw the site load"
            time.sleep(0.02)
        runtime.wait_idle(5)
    finally:
        runtime.stop()
    assert processor.memory.duties.site_versions != held.site_versions


def test_the_roster_lines_are_expanded_again_only_when_a_site_or_its_day_moves(
    engine: Engine, tmp_path: Path, mocker: MockerFixture
) -> None:
    load_sample_site(engine, DAY_START - timedelta(days=1))
    clock, processor = started(engine)
    expanded = mocker.spy(roster_refresh, "extend_shifts")
    clock.advance(300)
    refresh(processor)
    assert expanded.call_count == 0
    # A day on, the site's local day has moved: the lines are expanded around it, and the
    # roster read takes the day they add.
    last_start = max(d.starts_at for d in processor.memory.duties.by_start)
    clock.advance(24 * 3600)
    refresh(processor)
    assert expanded.call_count == 1
    assert max(d.starts_at for d in processor.memory.duties.by_start) > last_start
    clock.advance(300)
    refresh(processor)
    assert expanded.call_count == 1
    # A site load replaces the lines: expanded again.
    load_site_file(_moved_site(tmp_path, 0.0), engine, clock.now())
    clock.advance(300)
    refresh(processor)
    assert expanded.call_count == 2


def test_the_reader_and_a_reload_expand_the_roster_lines_one_at_a_time(
    engine: Engine, mocker: MockerFixture
) -> None:
    load_sample_site(engine, DAY_START - timedelta(days=1))
    clock, processor = started(engine)
    clock.advance(24 * 3600)  # the local day has moved: the lines are due an expansion
    real = roster_refresh.extend_shifts
    inside = threading.Barrier(2, timeout=1.0)

    def meeting(session: Session, now: Any) -> int:
        # Two expansions inside at once would meet here; one alone waits the second out.
        with contextlib.suppress(threading.BrokenBarrierError):
            inside.wait()
        return real(session, now)

    expanded = mocker.patch.object(roster_refresh, "extend_shifts", side_effect=meeting)
    failures: list[BaseException] = []

    def expand() -> None:
        try:
            roster_refresh.extend_roster(engine, clock, processor._extension)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=expand) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert failures == [] and expanded.call_count == 1


def test_an_expansion_leaves_the_shifts_another_gateway_inserted_meanwhile(
    engine: Engine, mocker: MockerFixture
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("several gateways share one database on PostgreSQL only")
    load_sample_site(engine, DAY_START - timedelta(days=1))
    later = DAY_START + timedelta(days=10)  # past the days the load expanded
    with Session(engine) as session:
        before = session.scalar(select(func.count()).select_from(ShiftRow))
    real_insert = extend_module.insert_new_shifts
    theirs: list[int] = []
    other_gateway = make_engine(engine.url.render_as_string(hide_password=False))

    def raced(session: Session, rows: list[dict[str, object]]) -> int:
        # Another gateway expands the same lines and commits between this one's read and
        # its insert (its own insert goes straight through).
        if session.get_bind() is engine:
            with Session(other_gateway) as other, other.begin():
                theirs.append(extend_module.extend_shifts(other, later))
        return real_insert(session, rows)

    mocker.patch.object(extend_module, "insert_new_shifts", side_effect=raced)
    try:
        with Session(engine) as session, session.begin():
            ours = extend_module.extend_shifts(session, later)
    finally:
        mocker.stopall()
        other_gateway.dispose()
    with Session(engine) as session:
        after = session.scalar(select(func.count()).select_from(ShiftRow))
        again = extend_module.extend_shifts(session, later)
    assert theirs and theirs[0] > 0
    assert ours == 0 and after == before + theirs[0] and again == 0


def test_a_refresh_of_an_unchanged_roster_ends_an_emergency_whose_alert_was_resolved(
    engine: Engine,
) -> None:
    build(engine, 2)
    clock, processor = started(engine)

    def press(seconds: int) -> None:
        at = START + timedelta(seconds=seconds)
        sos = PositionFix(
            device_id="gps-x0000",
            fix_time=at,
            received_at=at,
            lat=30.6050,
            lon=114.3000,
            alarms=frozenset({Alarm.SOS}),
        )
        processor.process_fixes([sos])

    def sos_alerts() -> int:
        with Session(engine) as session:
            query = select(func.count()).select_from(OutboxRow)
            return int(
                session.scalar(
                    query.where(OutboxRow.type == "alert.sos", OutboxRow.destination == "core")
                )
                or 0
            )

    press(10)
    assert sos_alerts() == 1 and processor.memory.sos.active("gps-x0000")
    press(40)  # the same emergency: no second alert
    assert sos_alerts() == 1
    # A leader resolves it through another process's API; the button is still pressed.
    with Session(engine) as session, session.begin():
        session.execute(
            update(AlertRow).where(AlertRow.type == "alert.sos").values(status="resolved")
        )
    clock.advance(300)
    read = processor.read_roster()
    assert read is not None and read.unchanged
    assert processor.adopt_roster(read)
    assert not processor.memory.sos.active("gps-x0000")
    press(70)
    assert sos_alerts() == 2
