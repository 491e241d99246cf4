"""A badge a site load hands to a colleague at the same post is no longer its former wearer's:
left in the booth, it is not his device left behind (``PresenceStage._machine`` drops its
track with it). Through ``Processor`` as ``guard-gateway run`` drives it, on SQLite and
PostgreSQL.

g-001 (badge gps-b, phone gps-p) and g-002 (gps-c) keep the north gate 08:00-20:00. At 10:30 a
load gives gps-b to g-002, who keeps it in the booth; at 10:35 g-001 steps out with his phone.
Before, g-001 was also raised alert.device_left_behind naming gps-b.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from gateway.site import load_site_file
from tests.e2e.helpers import fix_at, roster_site
from tests.integration.test_site_load_mid_shift import at, core_events, points

GATE_SHIFT = f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"


def _roster(tmp_path: Path, name: str, terminals: list[tuple[str, str, str]]) -> Path:
    (tmp_path / name).mkdir()
    return roster_site(tmp_path / name, terminals)


def test_a_badge_handed_to_a_colleague_is_not_its_former_wearers_left_behind(
    engine: Engine, tmp_path: Path
) -> None:
    before = [
        ("g-001", "jt-gate-north", "gps-b"),
        ("g-001", "jt-gate-north", "gps-p"),
        ("g-002", "jt-gate-north", "gps-c"),
    ]
    load_site_file(_roster(tmp_path, "a", before), engine, at(-60))
    gate = points(engine, "jt-gate-north", at(1))
    clock = ManualClock(at(-1))
    processor = Processor(engine, clock)

    def minute(m: int, out: tuple[str, ...] = ()) -> None:
        clock.set(at(m + 0.1))
        processor.process_fixes(
            [
                fix_at(device, at(m), gate.outside if device in out else gate.inside)
                for device in ("gps-b", "gps-p", "gps-c")
            ]
        )
        processor.tick()

    for m in range(0, 150):
        minute(m)
    clock.set(at(150))
    after = [
        ("g-001", "jt-gate-north", "gps-p"),
        ("g-002", "jt-gate-north", "gps-b"),
        ("g-002", "jt-gate-north", "gps-c"),
    ]
    load_site_file(_roster(tmp_path, "b", after), engine, at(150))
    read = processor.read_roster()
    assert read is not None and processor.adopt_roster(read)
    for m in range(150, 155):
        minute(m)
    for m in range(155, 165):
        minute(m, out=("gps-p",))
    for m in range(165, 170):
        minute(m)
    kinds = [kind for kind, _, shift in core_events(engine) if shift == GATE_SHIFT]
    assert "alert.unreported_departure" in kinds
    assert "alert.device_left_behind" not in kinds
