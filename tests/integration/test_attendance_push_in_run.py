"""Punches of a ZKTeco PUSH terminal through the gateway as ``guard-gateway run`` wires it
(``build_gateway``: the ``/iclock`` routes on a real HTTP port, the pipeline thread, the record
outbox), the simulated terminal of ``fwsim`` posting its ATTLOG lines, on a manual clock, on
SQLite and PostgreSQL.

The patrol site of ``tests.ledger.patrol_scenario``: g-001 (PIN 1001) keeps the north gate
08:00-10:00 (Asia/Shanghai), whose clock-in terminal ``zk-gate`` pushes as ``ZKLEDGER01``; his
GPS terminal reports every minute.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import Engine

from fwsim.zkteco.push_terminal import PushTerminal
from gateway.bootstrap import ApiServer, build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.lifecycle import Gateway
from gateway.records import DecodeOutcome
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.e2e.helpers import fix_at, outbox_rows, post_points
from tests.ledger.patrol_scenario import GATE, at, patrol_site

GUARD, NORTH, GPS = GATE
SN = "ZKLEDGER01"
WUHAN = ZoneInfo("Asia/Shanghai")
CHECK_IN, CHECK_OUT, BREAK_OUT, BREAK_IN, OVERTIME_IN, OVERTIME_OUT = range(6)


def local(minutes: float) -> datetime:
    """The terminal's clock reading (Beijing time, naive) ``minutes`` after 08:00."""
    return at(minutes).astimezone(WUHAN).replace(tzinfo=None)


@dataclass
class Rig:
    clock: ManualClock
    gateway: Gateway
    terminal: PushTerminal
    url: str = ""
    """The API's base URL (served by the gateway first built)."""
    db_url: str = ""
    site: Path | None = None
    """The site file loaded."""

    def restart(self, at_: datetime, edit: Callable[[Engine], None] = lambda e: None) -> None:
        """Stop the gateway, ``edit`` its database, and start a new one at ``at_`` on it (the
        API stays served by the first; its terminal pushes no more)."""
        self.gateway.stop()
        engine = make_engine(self.db_url)
        try:
            edit(engine)
        finally:
            engine.dispose()
        self.clock.set(at_)
        self.gateway = _gateway(self.db_url, self.clock)

    def run(
        self,
        minutes: range,
        punches: dict[int, list[tuple[int, datetime]]],
        where: Callable[[int], str | None],
    ) -> None:
        """Each minute: his GPS fix (``where``: ``"inside"``/``"outside"`` the north gate, or
        none), the terminal's records made that minute (state, its clock reading) pushed and
        acknowledged, then the pipeline idle at that time (a tick included)."""
        gate = post_points(self.gateway.engine, NORTH)
        runtime = self.gateway.runtime
        for minute in minutes:
            self.clock.set(at(minute + 0.1))
            spot = where(minute)
            if spot is not None:
                runtime.submit(DecodeOutcome(fixes=(fix_at(GPS, at(minute), getattr(gate, spot)),)))
            for state, reading in punches.get(minute, []):
                self.terminal.punch("1001", reading, status=state)
            if minute in punches:
                assert self.terminal.push() == len(punches[minute])
            assert runtime.wait_idle()
            assert runtime.wait_idle()

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """(type, data) of g-001's events in the gateway's record, in order."""
        bodies = [json.loads(r.body) for r in outbox_rows(self.gateway.engine)]
        return [(b["type"], b["data"]) for b in bodies if b["data"].get("guard_id") == GUARD]

    def counters(self) -> dict[str, int]:
        return self.gateway.processor.counters.snapshot()


@contextmanager
def push_rig(
    db_url: str,
    tmp_path: Path,
    shifts: list[dict[str, str]],
    *,
    handshake: bool = True,
    gps: bool = True,
    **terminal_options: Any,
) -> Iterator[Rig]:
    """The gateway built on ``db_url`` with the patrol site, g-001's shifts replaced by
    ``shifts`` (daily), loaded an hour before the first minute run, its API served, and the
    gate terminal (``terminal_options``: its clock's offset...; its clock reads the gateway's
    manual clock) handshaken at 07:54 unless not to. ``gps=False``: g-001 wears no GPS
    terminal (the gate's clock-in terminal is all that sees him)."""
    path = patrol_site(tmp_path)
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    site["shifts"] = [s for s in site["shifts"] if s["guard"] != GUARD]
    site["shifts"] += [{"guard": GUARD, "days": "daily", **s} for s in shifts]
    if not gps:
        site["devices"] = [d for d in site["devices"] if d["id"] != GPS]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    engine = make_engine(db_url)
    try:
        create_schema(engine)
        load_site_file(path, engine, at(-60))
    finally:
        engine.dispose()
    clock = ManualClock(at(-6))
    gateway = _gateway(db_url, clock)
    server = ApiServer(gateway.app)
    rig: Rig | None = None
    try:
        url = server.start()
        with PushTerminal(url, SN, clock=clock.now, **terminal_options) as terminal:
            if handshake:
                terminal.handshake()
            rig = Rig(clock, gateway, terminal, url, db_url, path)
            yield rig
    finally:
        server.stop()
        (gateway if rig is None else rig.gateway).stop()


def _gateway(db_url: str, clock: ManualClock) -> Gateway:
    """The gateway ``run`` builds on ``db_url``, started, on ``clock``."""
    gateway = build_gateway(
        Settings(database_url=db_url), clock, with_ingest=False, with_field_devices=False
    )
    gateway.start()
    return gateway


def test_overtime_punched_after_his_shift_is_reported_as_that_shifts(
    db_url: str, tmp_path: Path
) -> None:
    # 08:00-10:00; in at 07:58, out at 10:00, overtime from 10:01 to 12:30 (加班). Before,
    # both overtime punches were stored and counted off duty: no ``attendance.punch``, so
    # the core never learned of the overtime.
    with push_rig(db_url, tmp_path, [{"post": NORTH, "start": "08:00", "end": "10:00"}]) as rig:
        rig.run(
            range(-3, 152),
            {
                -2: [(CHECK_IN, local(-2))],
                120: [(CHECK_OUT, local(120))],
                121: [(OVERTIME_IN, local(121))],
                150: [(OVERTIME_OUT, local(150))],
            },
            lambda m: "inside" if m <= 150 else None,
        )
        punches = [(d["kind"], d["punched_at"]) for t, d in rig.events() if t == "attendance.punch"]
        assert punches == [
            ("check_in", "2026-03-01T23:58:00+00:00"),
            ("check_out", "2026-03-02T02:00:00+00:00"),
            ("overtime_in", "2026-03-02T02:01:00+00:00"),
            ("overtime_out", "2026-03-02T02:30:00+00:00"),
        ]
        shifts = {d["shift_id"] for t, d in rig.events() if t == "attendance.punch"}
        assert shifts == {f"{GUARD}/{NORTH}/20260302T000000Z"}
        assert rig.counters().get("punches.off_duty", 0) == 0
        assert [t for t, _ in rig.events() if t.startswith("alert.")] == []


def test_a_break_out_on_a_terminal_whose_clock_runs_ahead_still_reports_the_walk_out(
    db_url: str, tmp_path: Path
) -> None:
    # The terminal's clock runs 5 minutes fast. In at 07:58 (it reads 08:03), break-out at
    # 08:30 (08:35) and out of the gate from 08:31, break-in at 08:40 (08:45). Before, the
    # break-out was taken at 08:35, after the walk out began, so it covered nothing: an
    # unreported departure for a guard who reported it.
    fast = timedelta(minutes=5)
    with push_rig(db_url, tmp_path, [{"post": NORTH, "start": "08:00", "end": "10:00"}]) as rig:
        rig.run(
            range(-3, 60),
            {
                -2: [(CHECK_IN, local(-2) + fast)],
                30: [(BREAK_OUT, local(30) + fast)],
                40: [(BREAK_IN, local(40) + fast)],
            },
            lambda m: "outside" if 31 <= m < 40 else "inside",
        )
        events = rig.events()
        assert [t for t, _ in events if t.startswith("alert.")] == []
        punches = [(d["kind"], d["punched_at"]) for t, d in events if t == "attendance.punch"]
        assert punches == [
            ("check_in", "2026-03-01T23:58:06+00:00"),
            ("break_out", "2026-03-02T00:30:06+00:00"),
            ("break_in", "2026-03-02T00:40:06+00:00"),
        ]
        assert [t for t, _ in events if t.startswith("presence.")] == [
            "presence.arrived",
            "presence.departed",
            "presence.returned",
        ]
        assert rig.counters()["punches.clock_ahead"] == 3
