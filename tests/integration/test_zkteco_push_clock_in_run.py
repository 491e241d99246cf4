"""A ZKTeco PUSH terminal whose clock runs behind, as ``guard-gateway run`` wires it (the
``/iclock`` routes on a real HTTP port, the pipeline thread, the outbox), the simulated terminal
of ``fwsim`` stamping its records by its own clock, on a manual clock, on SQLite and PostgreSQL.

g-001 (PIN 1001) keeps the north gate 08:00-10:00 (Beijing); his clock-in grace is 15 minutes.
The gateway sets the terminal's clock on its first poll after a handshake
(``SET OPTION DateTime``); a terminal that refuses has its real-time punches dated by the
gateway's clock (``drivers.zkteco.push_clock``), never a backlog it kept while offline.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from pytest_mock import MockerFixture
from sqlalchemy.exc import OperationalError

from gateway.records import DecodeOutcome
from tests.e2e.helpers import fix_at, post_points
from tests.integration.test_attendance_push_in_run import CHECK_IN, GPS, NORTH, Rig, push_rig
from tests.ledger.patrol_scenario import at

SHIFT = [{"post": NORTH, "start": "08:00", "end": "10:00"}]


def _live(rig: Rig, minutes: Iterable[int], punches: dict[int, int]) -> None:
    """Each minute (6 s into it): his GPS fix inside the gate, the terminal polls
    ``getrequest`` and, at a minute of ``punches``, records that state by its own clock and
    uploads it; then the pipeline idles."""
    runtime = rig.gateway.runtime
    gate = post_points(rig.gateway.engine, NORTH)
    for minute in minutes:
        rig.clock.set(at(minute + 0.1))
        runtime.submit(DecodeOutcome(fixes=(fix_at(GPS, at(minute), gate.inside),)))
        rig.terminal.poll()
        if minute in punches:
            rig.terminal.punch_now("1001", status=punches[minute])
            assert rig.terminal.push() == 1
        assert runtime.wait_idle()
        assert runtime.wait_idle()


def _punches(rig: Rig) -> list[tuple[str, str]]:
    return [(d["kind"], d["punched_at"]) for t, d in rig.events() if t == "attendance.punch"]


def _alerts(rig: Rig) -> list[str]:
    return [t for t, _ in rig.events() if t.startswith("alert.")]


def test_a_terminal_set_to_utc_is_set_to_the_gateways_time_and_dates_a_check_in_right(
    db_url: str, tmp_path: Path
) -> None:
    # Set to UTC, 8 hours behind Beijing. Before, its 07:58 check-in read 23:58 the day
    # before: off duty, and a false late clock-in at 08:15.
    with push_rig(db_url, tmp_path, SHIFT, clock_offset=timedelta(hours=-8)) as rig:
        _live(rig, range(-5, 20), {-2: CHECK_IN})
        assert _punches(rig) == [("check_in", "2026-03-01T23:58:06+00:00")]
        assert _alerts(rig) == []
        assert [c.split(":", 2)[2].split("=")[0] for c in rig.terminal.commands_done] == [
            "SET OPTION DateTime"
        ]
        counters = rig.counters()
        assert counters.get("punches.off_duty", 0) == 0
        assert counters.get("punches.clock_corrected", 0) == 0


def test_a_slow_terminal_refusing_the_clock_setting_has_its_real_time_punches_corrected(
    db_url: str, tmp_path: Path
) -> None:
    # Six minutes slow, firmware without the clock setting. He checks in at 08:18, late; the
    # terminal reads 08:12. Before, the check-in was taken at 08:12, within the grace.
    with push_rig(
        db_url,
        tmp_path,
        SHIFT,
        clock_offset=timedelta(minutes=-6),
        accepts_clock_set=False,
    ) as rig:
        _live(rig, range(-5, 25), {18: CHECK_IN})
        assert _punches(rig) == [("check_in", "2026-03-02T00:18:06+00:00")]
        assert _alerts(rig) == ["alert.late_clock_in"]
        assert rig.counters()["punches.clock_corrected"] == 1


def test_a_backlog_kept_while_offline_is_dated_as_the_terminal_dated_it(
    db_url: str, tmp_path: Path
) -> None:
    # Its clock right, but offline until 08:30: the 07:58 check-in it kept arrives 32 minutes
    # after it was made, in the session it opens on reconnecting. Not a clock offset.
    with push_rig(db_url, tmp_path, SHIFT, handshake=False) as rig:
        rig.clock.set(at(-2 + 0.1))
        rig.terminal.punch_now("1001", status=CHECK_IN)
        rig.clock.set(at(30 + 0.1))
        rig.terminal.handshake()
        assert rig.terminal.push() == 1
        _live(rig, range(30, 33), {})
        assert _punches(rig) == [("check_in", "2026-03-01T23:58:06+00:00")]
        assert rig.counters().get("punches.clock_corrected", 0) == 0


def test_a_corrected_punch_sent_again_after_a_reconnect_is_stored_once(
    db_url: str, tmp_path: Path
) -> None:
    # Six minutes slow, refusing the clock setting: the 08:18 check-in is corrected. Its OK is
    # lost; the terminal is silent five minutes, reconnects and sends it again, in a session
    # younger than it: not corrected this time, yet the same record (its line).
    with push_rig(
        db_url,
        tmp_path,
        SHIFT,
        clock_offset=timedelta(minutes=-6),
        accepts_clock_set=False,
    ) as rig:
        _live(rig, range(-5, 19), {18: CHECK_IN})
        rig.clock.set(at(24 + 0.1))
        rig.terminal.handshake()
        assert rig.terminal.repush().acknowledged == 1
        _live(rig, range(24, 26), {})
        assert _punches(rig) == [("check_in", "2026-03-02T00:18:06+00:00")]
        counters = rig.counters()
        assert counters["punches.stored"] == 1
        assert counters["punches.duplicate"] == 1


def test_punches_kept_waiting_while_the_gateway_could_not_store_them_keep_their_time(
    db_url: str, tmp_path: Path, mocker: MockerFixture
) -> None:
    # Its clock right and polling all along, but the database was unreachable from 07:57 to
    # 08:04: the gateway answered its uploads 503, and the 07:58 check-in arrived at 08:04,
    # six minutes after it was made, in a session older than it. A refusal ends what the
    # session says: records made before it are a backlog, not a clock behind.
    with push_rig(db_url, tmp_path, SHIFT) as rig:
        _live(rig, range(-6, -3), {})
        store = mocker.patch.object(
            rig.gateway.processor,
            "store_punches",
            side_effect=OperationalError("INSERT", {}, Exception("connection refused")),
        )
        for minute in range(-3, 4):
            rig.clock.set(at(minute + 0.1))
            rig.terminal.poll()
            if minute == -2:
                rig.terminal.punch_now("1001", status=CHECK_IN)
            assert rig.terminal.push() == 0
        assert store.call_count == 6
        mocker.stopall()
        rig.clock.set(at(4 + 0.1))
        rig.terminal.poll()
        assert rig.terminal.push() == 1
        _live(rig, range(5, 20), {})
        assert _punches(rig) == [("check_in", "2026-03-01T23:58:06+00:00")]
        assert _alerts(rig) == []
        assert rig.counters().get("punches.clock_corrected", 0) == 0
