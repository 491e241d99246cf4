"""A ZKTeco PUSH terminal bound to its address, through the gateway as ``guard-gateway run``
builds it (``build_gateway``, its API served on a real HTTP port, the pipeline thread), with
real HTTP clients bound to chosen local source addresses, on SQLite and PostgreSQL.

The patrol site of ``tests.ledger.patrol_scenario``: the north gate's terminal ``zk-gate``
pushes as ``ZKLEDGER01`` and is given ``address: 127.0.0.2``; g-001 is PIN 1001. The whole of
127.0.0.0/8 is this host's on Linux, so 127.0.0.1 is "another machine of the LAN" here.

Before, the serial number alone named the terminal: anyone who read it off the label could
post ATTLOG lines in its name, a check-in for any PIN, from any address, and a forwarded-for
header from a local caller was believed as the client's address.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fwsim.zkteco.push_terminal import PushTerminal
from gateway.bootstrap import ApiServer, build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.lifecycle import Gateway
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.integration.test_attendance_push_in_run import SN, local
from tests.ledger.patrol_scenario import at, patrol_site

TERMINAL_ADDRESS = "127.0.0.2"
OTHER_ADDRESS = "127.0.0.1"
"""uvicorn's default trusted proxy: a forwarded-for header from it was believed."""


@dataclass
class Rig:
    gateway: Gateway
    url: str

    def counters(self) -> dict[str, int]:
        assert self.gateway.runtime.wait_idle()
        return self.gateway.processor.counters.snapshot()

    def health_counters(self) -> dict[str, int]:
        counters: dict[str, int] = httpx.get(f"{self.url}/health").json()["counters"]
        return counters


@contextmanager
def address_rig(db_url: str, tmp_path: Path) -> Iterator[Rig]:
    """The patrol site with ``zk-gate`` bound to ``TERMINAL_ADDRESS``, loaded, and the gateway
    ``run`` builds on it with its API served, at 07:55."""
    path = patrol_site(tmp_path)
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    for device in doc["sites"][0]["devices"]:
        if device["id"] == "zk-gate":
            device["address"] = TERMINAL_ADDRESS
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    engine = make_engine(db_url)
    try:
        create_schema(engine)
        load_site_file(path, engine, at(-60))
    finally:
        engine.dispose()
    clock = ManualClock(at(-5))
    gateway = build_gateway(
        Settings(database_url=db_url), clock, with_ingest=False, with_field_devices=False
    )
    gateway.start()
    server = ApiServer(gateway.app)
    try:
        yield Rig(gateway, server.start())
    finally:
        server.stop()
        gateway.stop()


def test_the_terminal_is_answered_from_its_address_and_an_impostor_from_another_is_refused(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.pipeline")
    with address_rig(db_url, tmp_path) as rig:
        with PushTerminal(rig.url, SN, source_address=TERMINAL_ADDRESS) as terminal:
            terminal.handshake()
            terminal.punch("1001", local(-2))
            assert terminal.push() == 1
        assert rig.counters()["punches.stored"] == 1

        # A guard's phone on the LAN, knowing the serial number: his colleague's check-in.
        with PushTerminal(rig.url, SN, source_address=OTHER_ADDRESS) as impostor:
            impostor.punch("1002", local(-1))
            assert impostor.push() == 0
            assert [(r.status_code, r.body) for r in impostor.results] == [
                (403, "ERROR: unknown terminal")  # as an unknown terminal is answered
            ]
            assert len(impostor.pending) == 1  # not acknowledged
        counters = rig.counters()
        assert counters["punches.stored"] == 1  # the terminal's own only
        assert counters["rejected.unexpected_address"] == 1
        assert rig.health_counters()["rejected.unexpected_address"] == 1
        [logged] = [
            r.getMessage() for r in caplog.records if "unexpected address" in r.getMessage()
        ]
        assert OTHER_ADDRESS in logged and SN in logged


def test_a_forwarded_for_header_naming_the_terminals_address_is_not_believed(
    db_url: str, tmp_path: Path
) -> None:
    forged = {
        "X-Forwarded-For": TERMINAL_ADDRESS,
        "X-Real-IP": TERMINAL_ADDRESS,
        "Forwarded": f"for={TERMINAL_ADDRESS}",
    }
    with (
        address_rig(db_url, tmp_path) as rig,
        httpx.Client(
            base_url=rig.url,
            headers=forged,
            transport=httpx.HTTPTransport(local_address=OTHER_ADDRESS),
        ) as client,
    ):
        line = f"1002\t{local(-1):%Y-%m-%d %H:%M:%S}\t0\t1\t0\n"
        answers = [
            client.get("/iclock/cdata", params={"SN": SN, "options": "all"}),
            client.post(
                "/iclock/cdata", params={"SN": SN, "table": "ATTLOG"}, content=line.encode()
            ),
        ]
        assert [(a.status_code, a.text) for a in answers] == [(403, "ERROR: unknown terminal")] * 2
        counters = rig.counters()
        assert counters.get("punches.stored", 0) == 0
        assert counters["rejected.unexpected_address"] == 2
