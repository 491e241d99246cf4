"""End to end: simulated checkpoint readers and clock-in terminals → the gateway → the core stub.

Real parts only: EM4100 readers and a PN532 on pseudo-terminals opened by the gateway's own
drivers (started from the site file's device URLs), a ZKTeco terminal pushing ATTLOG to the
gateway's ``/iclock`` routes over HTTP, SQLite or PostgreSQL, and the HTTP core stub that checks
signatures. One ``ManualClock`` drives the gateway and the scenario: the rig moves it in steps
and, at each step, lets the simulators act, waits until every scan they made was stored, and
lets the pipeline tick at the new time. Deadlines therefore fire at the step they fall due.

The site (written here): a patrol post ``pt-garden`` with three checkpoints on the route
``garden-round`` (a round 5 minutes after every hour of the 08:00-20:00 shift, windows 0-3, 3-6
and 6-9 minutes), a gate post with the clock-in terminal ``zk-gate``; g-101 (PIN 1001) patrols,
g-102 (PIN 1002) keeps the gate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from drivers.em4100 import Em4100Reader
from fwsim.core_stub import CoreStub
from fwsim.scenario.field import (
    FieldRunner,
    FieldScenario,
    load_field_scenario,
    parse_field_scenario,
)
from gateway.bootstrap import ApiServer, build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.models import AlertRow
from gateway.db.schema import create_schema
from gateway.lifecycle import Gateway
from gateway.outbox.tables import OutboxRow
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, outbox_rows

SCENARIOS = Path(__file__).resolve().parents[2] / "firmware-sim" / "scenarios"
SECRET = "field-e2e-secret"
WAIT_S = 15.0
STEP_S = 20.0  # below the 30 s after which a deadline counts as fired late

TAGS = {"cp-east": "0100A1B2C3", "cp-fountain": "0100A1B2C4", "cp-west": "0100A1B2C5"}
NTAG_UID = "04A2241A6B1C80"  # the NFC sticker at the fountain, beside its EM4100 tag
PINS = {"g-101": "1001", "g-102": "1002"}
POSTS = {"g-101": "pt-garden", "g-102": "pt-gate"}
TERMINAL_SN = "ZKRP00001"  # the gate terminal of the shipped site (sites/riverside-plaza-field)


def at(minutes: float) -> datetime:
    """Clock time ``minutes`` after the 08:00 (Asia/Shanghai) shift start."""
    return DAY_START + timedelta(minutes=minutes)


def iso(minutes: float) -> str:
    return at(minutes).isoformat().replace("+00:00", "Z")


def field_site(
    tmp_path: Path,
    guards: list[str],
    readers: dict[str, tuple[str, str]],
    clock_in_url: str | None = None,
    shifts: list[dict[str, Any]] | None = None,
) -> Path:
    """The site file: ``guards`` on duty 08:00-20:00 at their posts (or the ``shifts`` given),
    ``readers`` = {device id: (kind, url)} at the patrol post (EM4100 ones in ``rdm6300``), the
    gate terminal (PUSH by serial number, or the binary protocol at ``clock_in_url``)."""
    # Each guard wears a GPS terminal that sends nothing here: the scans and punches at his
    # post stand in for its fixes as evidence of where he is. Its silence limit is raised to
    # two hours so the events are those of the patrol and attendance rules.
    devices: list[dict[str, Any]] = [
        {"id": f"gps-{g[2:]}", "kind": "gps", "guard": g} for g in ("g-101", "g-102")
    ]
    for device_id, (kind, url) in readers.items():
        device = {"id": device_id, "kind": kind, "post": "pt-garden", "url": url}
        if kind == "em4100_reader":
            device["variant"] = "rdm6300"
        devices.append(device)
    terminal: dict[str, Any] = {"id": "zk-gate", "kind": "clock_in", "post": "pt-gate"}
    terminal.update({"url": clock_in_url} if clock_in_url else {"sn": TERMINAL_SN})
    devices.append(terminal)
    site = {
        "id": "e2e-field",
        "name": "E2E field site",
        "timezone": "Asia/Shanghai",
        "policy": {"device_silent_s": 7200},
        "posts": [
            {
                "id": "pt-garden",
                "name": "garden patrol",
                "kind": "patrol",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.3055, 30.5928], "radius_m": 80},
            },
            {
                "id": "pt-gate",
                "name": "gate",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.3085, 30.5928], "radius_m": 30},
            },
        ],
        "leaders": [{"id": "ld-a", "name": "leader A", "team": "A"}],
        "guards": [{"id": g, "name": g, "team": "A", "pin": PINS[g]} for g in ("g-101", "g-102")],
        "devices": devices,
        "shifts": shifts
        or [
            {"guard": g, "post": POSTS[g], "days": "daily", "start": "08:00", "end": "20:00"}
            for g in guards
        ],
        "checkpoints": [
            {
                "id": cp,
                "name": cp,
                "post": "pt-garden",
                "tags": [tag, NTAG_UID] if cp == "cp-fountain" else [tag],
            }
            for cp, tag in TAGS.items()
        ],
        "routes": [
            {
                "id": "garden-round",
                "post": "pt-garden",
                "ordered": True,
                "schedule": {"every_min": 60, "offset_min": 5},
                "checkpoints": [
                    {"checkpoint": cp, "window_min": [3 * i, 3 * i + 3]}
                    for i, cp in enumerate(TAGS)
                ],
            }
        ],
    }
    path = tmp_path / "field-site.yaml"
    path.write_text(yaml.safe_dump({"sites": [site]}, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class FieldRig:
    """The gateway on a manual clock with its API served, the field runner and the core stub."""

    clock: ManualClock
    gateway: Gateway
    stub: CoreStub
    runner: FieldRunner

    def counters(self) -> dict[str, int]:
        return self.gateway.processor.counters.snapshot()

    def seen(self) -> tuple[int, int]:
        """Scans and punches the pipeline took in (stored or recognised as already stored)."""
        c = self.counters()
        return (
            c.get("scans.stored", 0) + c.get("scans.duplicate", 0),
            c.get("punches.stored", 0) + c.get("punches.duplicate", 0),
        )

    def made(self) -> tuple[int, int]:
        """Presentations the readers made, and punches the terminals delivered (PUSH records
        acknowledged; binary-protocol punches, which travel as live events)."""
        stats = self.runner.stats()
        binary = {t.id for t in self.runner.scenario.terminals if t.kind == "zkteco_binary"}
        punches = sum(s.punches if d in binary else s.acknowledged for d, s in stats.items())
        return self.runner.presentations(), punches

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting until {what}")
            time.sleep(0.005)

    def settle(self) -> None:
        """Wait until every scan and punch the simulators made reached the pipeline, and the
        pipeline ran what was queued and ticked at the current clock time."""
        self.wait_for(
            lambda: all(s >= m for s, m in zip(self.seen(), self.made(), strict=True)),
            f"every scan and punch arrived (made {self.made()}, seen {self.seen()})",
        )
        # Queued inputs, then calls, then the tick: once a second call returns, a tick has
        # run at the current clock time.
        assert self.gateway.runtime.wait_idle(WAIT_S)
        assert self.gateway.runtime.wait_idle(WAIT_S)

    def play(self, until: datetime) -> None:
        """Advance to ``until`` in steps of at most ``STEP_S``, stopping at each action."""
        while True:
            self.runner.run_until(self.clock.now())
            self.settle()
            now = self.clock.now()
            if now >= until:
                return
            step = min(timedelta(seconds=STEP_S), until - now)
            upcoming = [when for when, _ in self.runner.plan if when > now]
            if upcoming:
                step = min(step, upcoming[0] - now)
            self.clock.advance(step)

    def delivered(self) -> list[OutboxRow]:
        """Wait until the core stub has every event of the outbox; return the outbox rows."""
        deadline = time.monotonic() + WAIT_S
        assert self.gateway.delivery is not None
        while True:
            rows = outbox_rows(self.gateway.engine)
            if all(r.delivered_at is not None for r in rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"not delivered: {[r.type for r in rows]}")
            self.gateway.delivery.notify()
            time.sleep(0.05)

    def events(self) -> list[dict[str, Any]]:
        """What the core received, checked against the outbox: each event once, in order."""
        rows = self.delivered()
        events = self.stub.events
        assert [e["id"] for e in events] == [r.event_id for r in rows]
        assert self.stub.duplicates == [] and self.stub.rejected == 0
        return events

    def alert(self, type_: str) -> AlertRow:
        with Session(self.gateway.engine, expire_on_commit=False) as session:
            rows = list(session.scalars(select(AlertRow).where(AlertRow.type == type_)))
            session.expunge_all()
        assert len(rows) == 1, f"{type_}: {len(rows)} alerts"
        return rows[0]

    def em4100_driver(self, device_id: str) -> Em4100Reader:
        """The gateway's driver of an EM4100 reader (to watch it reopen after a replug)."""
        found = [
            r
            for r in self.gateway.field_devices.running
            if isinstance(r, Em4100Reader) and r.reader_id == device_id
        ]
        assert len(found) == 1
        return found[0]


RigFactory = Callable[..., FieldRig]


@pytest.fixture
def field_rig(db_url: str, tmp_path: Path) -> Iterator[RigFactory]:
    """``field_rig(scenario, guards, clock_in="push")`` starts a rig at 08:00: the site has the
    scenario's readers at the patrol post (EM4100 and PN532, by the simulators' URLs), ``guards``
    on duty (or the ``shifts=`` given), and the gate terminal as a PUSH terminal or
    (``"binary"``) at the simulated binary terminal's address. Everything is stopped after the
    test."""
    started: list[tuple[FieldRig, ApiServer]] = []

    def make(
        scenario: FieldScenario,
        guards: list[str],
        clock_in: str = "push",
        shifts: list[dict[str, Any]] | None = None,
    ) -> FieldRig:
        clock = ManualClock(DAY_START)
        runner = FieldRunner(scenario, clock, start=DAY_START)
        runner.open()
        readers = {
            r.id: (
                "em4100_reader" if r.kind == "em4100" else "nfc_reader",
                runner.reader_url(r.id),
            )
            for r in scenario.readers
        }
        binary_url = runner.terminal_url("zk-gate") if clock_in == "binary" else None
        engine = make_engine(db_url)
        try:
            create_schema(engine)
            site = field_site(tmp_path, guards, readers, binary_url, shifts)
            load_site_file(site, engine, DAY_START)
        finally:
            engine.dispose()
        stub = CoreStub(SECRET)
        settings = Settings(
            database_url=db_url,
            core_url=stub.start(),
            core_secret=SecretStr(SECRET),
            event_source="urn:guard-gateway:e2e-field",
            delivery_retry_initial_s=1.0,
            delivery_retry_max_s=20.0,
        )
        gateway = build_gateway(settings, clock, with_ingest=False)
        api = ApiServer(gateway.app)
        rig = FieldRig(clock, gateway, stub, runner)
        started.append((rig, api))
        gateway.start()
        runner.api_url = api.start()
        return rig

    yield make
    for rig, api in reversed(started):
        api.stop()
        rig.gateway.stop()
        rig.runner.stop()
        rig.stub.stop()


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def test_patrol_round_with_a_skipped_checkpoint_delivers_exactly_the_expected_events(
    field_rig: RigFactory,
) -> None:
    rig = field_rig(load_field_scenario(SCENARIOS / "patrol-skip-checkpoint.yaml"), ["g-101"])
    rig.play(at(20))
    events = rig.events()

    assert [(e["type"], e["time"]) for e in events] == [
        ("attendance.punch", iso(0.5)),
        ("patrol.checkpoint_scanned", iso(6.5)),
        ("presence.arrived", iso(6.5)),  # the scan at his post is evidence he is there
        ("alert.checkpoint_missed", iso(11)),  # the fountain's window ends at 08:11
        ("patrol.checkpoint_scanned", iso(11.5)),
        ("patrol.unknown_tag", iso(13)),
        ("patrol.round_completed", iso(16)),  # 08:11 + the 5-minute late tolerance
    ]
    punch, east, _arrived, missed, west, unknown, completed = events
    assert punch["subject"] == "g-101"
    assert punch["data"]["kind"] == "check_in" and punch["data"]["late"] is False
    assert punch["data"]["terminal_id"] == "zk-gate"
    assert punch["data"]["verify"] == "fingerprint"
    for scan, checkpoint, reader in (
        (east, "cp-east", "em-cp-east"),
        (west, "cp-west", "em-cp-west"),
    ):
        assert scan["subject"] == "g-101"
        assert scan["data"]["checkpoint_id"] == checkpoint
        assert scan["data"]["reader_id"] == reader
        assert scan["data"]["tag_id"] == TAGS[checkpoint]
        assert scan["data"]["counted"] is True
        assert scan["data"]["late"] is False and scan["data"]["out_of_order"] is False
    # Fired on the clock at the window's end (within one step of the rig), not on a scan.
    assert missed["data"]["checkpoint_id"] == "cp-fountain"
    assert missed["data"]["fired_late"] is False
    detected = datetime.fromisoformat(missed["data"]["detected_at"])
    assert timedelta(0) <= detected - at(11) <= timedelta(seconds=STEP_S)
    assert unknown["subject"] == "em-cp-west"
    assert unknown["data"]["tag_id"] == "01DEADBEEF"
    assert unknown["data"]["technology"] == "em4100"
    data = completed["data"]
    assert (data["checkpoints"], data["scanned"], data["on_time"], data["late"]) == (3, 2, 2, 0)
    assert (data["missed"], data["missed_checkpoints"]) == (1, ["cp-fountain"])
    assert data["out_of_order"] == 0 and data["round_start"] == iso(5).replace("Z", "+00:00")

    assert rig.alert("alert.checkpoint_missed").resolved_at is None
    counters = rig.counters()
    assert counters["scans.stored"] == 3
    assert counters["scans.unknown_tag"] == 1
    assert counters["punches.stored"] == 1
    assert counters.get("scans.duplicate", 0) == 0


NFC_SCENARIO = {
    "name": "nfc-fountain",
    "field_devices": {
        "readers": [
            {
                "id": "nfc-fountain",
                "kind": "pn532",
                "tags": {
                    "sticker": {"type": "ntag213", "uid": NTAG_UID, "text": "cp-fountain"},
                    "stray-card": {"type": "mifare_classic", "uid": "5C9A3E21"},
                },
            }
        ],
        "terminals": [{"id": "zk-gate", "kind": "zkteco_push", "sn": TERMINAL_SN}],
        "timeline": [
            {"at_s": 20, "punch": {"terminal": "zk-gate", "pin": "1001", "kind": "check_in"}},
            {"at_min": 9, "present_nfc": {"reader": "nfc-fountain", "tag": "sticker"}},
            {"at_min": 9.5, "present_nfc": {"reader": "nfc-fountain", "tag": "stray-card"}},
        ],
    },
}


def test_ntag213_read_by_nfcpy_through_the_site_reader_url_is_a_checkpoint_scan(
    field_rig: RigFactory,
) -> None:
    rig = field_rig(parse_field_scenario(NFC_SCENARIO), ["g-101"])
    # nfcpy initialises the chip in wall time; the reader polls once it is ready.
    assert rig.runner.pn532("nfc-fountain").wait_for_commands(0x4A, 1, timeout=WAIT_S)
    rig.play(at(10))
    events = rig.events()

    assert [(e["type"], e["time"]) for e in events] == [
        ("attendance.punch", iso(20 / 60)),
        ("alert.checkpoint_missed", iso(8)),  # east, window 08:05-08:08, not scanned
        ("patrol.checkpoint_scanned", iso(9)),
        ("presence.arrived", iso(9)),
        ("patrol.unknown_tag", iso(9.5)),
    ]
    scan = events[2]["data"]
    assert scan["checkpoint_id"] == "cp-fountain" and scan["reader_id"] == "nfc-fountain"
    assert scan["tag_id"] == NTAG_UID
    assert scan["counted"] is True and scan["out_of_order"] is False
    stray = events[4]["data"]
    assert stray["tag_id"] == "5C9A3E21" and stray["technology"] == "mifare_classic"


FAULTS_SCENARIO = {
    "name": "em4100-faults",
    "field_devices": {
        "readers": [
            {"id": f"em-cp-{name}", "kind": "em4100", "variant": "rdm6300"}
            for name in ("east", "fountain", "west")
        ],
        "terminals": [{"id": "zk-gate", "kind": "zkteco_push", "sn": TERMINAL_SN}],
        "timeline": [
            {"at_s": 20, "punch": {"terminal": "zk-gate", "pin": "1001", "kind": "check_in"}},
            # Line noise and a frame cut short, then the card held on the reader (repeats).
            {"at_min": 6, "noise": {"reader": "em-cp-east"}},
            {"at_min": 6, "partial_frame": {"reader": "em-cp-east"}},
            {"at_min": 6, "scan": {"reader": "em-cp-east", "tag": TAGS["cp-east"], "repeats": 5}},
            {"at_min": 7, "bad_checksum": {"reader": "em-cp-east", "tag": "0100000099"}},
            # Unplugged in the middle of a frame, plugged back in (same path, new pty).
            {"at_min": 8.5, "partial_frame": {"reader": "em-cp-fountain"}},
            {"at_min": 8.5, "unplug": {"reader": "em-cp-fountain"}},
            {"at_min": 9, "replug": {"reader": "em-cp-fountain"}},
            {
                "at_min": 10,
                "scan": {"reader": "em-cp-fountain", "tag": TAGS["cp-fountain"], "repeats": 3},
            },
            {"at_min": 11.5, "noise": {"reader": "em-cp-west"}},
            {"at_min": 12, "scan": {"reader": "em-cp-west", "tag": TAGS["cp-west"], "repeats": 8}},
        ],
    },
}


def test_garbage_partial_frames_and_a_replugged_reader_lose_no_scan_and_count_none_twice(
    field_rig: RigFactory,
) -> None:
    rig = field_rig(parse_field_scenario(FAULTS_SCENARIO), ["g-101"])
    fountain = rig.em4100_driver("em-cp-fountain")
    rig.play(at(9))
    # The driver finds the device again behind the same path.
    rig.wait_for(lambda: fountain.stats.reopens >= 1, "the reader reopened after the replug")
    rig.play(at(20))
    events = rig.events()

    # The reader notices the unplug on its own thread in wall time while the test clock moves
    # in 10 s steps, so its state changes are dated to the step in which it noticed them.
    reader_events = [e for e in events if e["subject"] == "em-cp-fountain"]
    assert [e["type"] for e in reader_events] == ["alert.device_silent", "presence.device_resumed"]
    assert all(iso(8.5) <= e["time"] <= iso(9.5) for e in reader_events), reader_events
    assert [(e["type"], e["subject"], e["time"]) for e in events if e not in reader_events] == [
        ("attendance.punch", "g-101", iso(20 / 60)),
        ("patrol.checkpoint_scanned", "g-101", iso(6)),
        ("presence.arrived", "g-101", iso(6)),
        ("patrol.checkpoint_scanned", "g-101", iso(10)),
        ("patrol.checkpoint_scanned", "g-101", iso(12)),
        ("patrol.round_completed", "g-101", iso(12)),
    ]
    assert [e["data"].get("checkpoint_id") for e in events if "scanned" in e["type"]] == [
        "cp-east",
        "cp-fountain",
        "cp-west",
    ]
    completed = events[-1]["data"]
    assert (completed["scanned"], completed["on_time"], completed["missed"]) == (3, 3, 0)
    assert rig.alert("alert.device_silent").resolved_at is not None

    counters = rig.counters()
    assert counters["scans.stored"] == 3
    assert counters.get("scans.duplicate", 0) == 0
    east = rig.em4100_driver("em-cp-east").stats
    assert (east.frames, east.scans) == (5, 1)  # five frames of one presentation: one scan
    assert east.rejects_total >= 2  # the noise, the cut frame and the bad checksum
    assert rig.em4100_driver("em-cp-west").stats.scans == 1
