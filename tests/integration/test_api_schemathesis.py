"""Schemathesis, every check, against the OpenAPI description of the gateway's real API served
over HTTP by uvicorn, on SQLite and PostgreSQL, with an admin token.

The gateway is wired by ``build_gateway`` as ``guard-gateway run`` wires it, with the ZKTeco
routes on their own port (``iclock_port``), so the description is the API's alone. The run must
end with no failure: no server error, no status the description leaves out, no response off its
schema, nothing accepted that the schema refuses, no route that ignores a missing token.

Two departures from schemathesis' defaults, stated here so nobody looks for them:

* ``positive_data_acceptance`` also expects 422, because some rules cannot be written in OpenAPI
  (a leave ends after it starts, a report's return comes after it was made, instants between
  2000 and 2100);
* ``max_response_time`` times each answer against 120 s, not 10. Under 10 s it is a stopwatch on
  a shared machine, not a property of the API: on one CI run a 422 for a malformed date was
  timed at 60 s, inside a run whose four phases add up to its whole 103 s, and three copies of
  this test run at once beside two busy loops never came near it. At 120 s it still fails a
  request that hangs; speed is what ``guard-gateway bench`` measures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.bootstrap import ApiServer, build_gateway, free_port
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.records import DecodeOutcome
from gateway.settings import Settings
from tests.e2e.helpers import DAY_START, fix_at, load_sample_site, post_points
from tests.fixtures.api_tokens import bearer, new_token

HANG_S = 120
"""An answer that takes longer than this fails the run as a hang (``--checks all`` would time
each answer against schemathesis' 10 s otherwise)."""

MAX_EXAMPLES = 50
"""Per operation and phase: about 20 s a backend on this machine (figures in docs/api.md)."""

CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[[operations]]
include-path = "/leaves/{{leave_id}}/cancel"
parameters = {{ leave_id = "{leave_id}" }}

[[operations]]
include-path = "/alerts/{{alert_id}}/acknowledge"
parameters = {{ alert_id = "{alert_id}" }}

[[operations]]
include-path = "/ledger"
parameters = {{ site = "wh-jiangtan-garden" }}

[[operations]]
include-path = "/ledger/timeline"
parameters = {{ site = "wh-jiangtan-garden", guard_id = "g-001" }}

[[operations]]
include-path = "/alerts/{{alert_id}}/resolve"
parameters = {{ alert_id = "{alert_id}" }}
"""
"""Known ids for the routes that act on a stored leave or alert, and the sample site (and a
guard of it) for the ledger's, so they are tested past 404."""


@dataclass
class Served:
    url: str
    token: str
    leave_id: str
    alert_id: int


@pytest.fixture
def served(db_url: str) -> Iterator[Served]:
    """The gateway on the sample site, with a stored leave and an open alert (g-001 off post
    from 08:05 without a report) for the routes that act on them."""
    engine = make_engine(db_url)
    create_schema(engine)
    load_sample_site(engine)
    token = new_token(engine, "admin", name="schemathesis")
    points = post_points(engine, "jt-gate-north")
    engine.dispose()
    clock = ManualClock(DAY_START)
    settings = Settings(database_url=db_url, iclock_port=free_port())
    gateway = build_gateway(settings, clock, with_ingest=False, with_field_devices=False)
    gateway.start()
    server = ApiServer(gateway.app)
    try:
        url = server.start()
        for second in range(60, 8 * 60, 30):
            clock.set(DAY_START + timedelta(seconds=second + 1))
            where = points.inside if second < 5 * 60 else points.outside
            fix = fix_at("gps-001", DAY_START + timedelta(seconds=second), where)
            gateway.runtime.submit(DecodeOutcome(fixes=(fix,)))
            assert gateway.runtime.wait_idle()
        with httpx.Client(base_url=url, headers=bearer(token), timeout=10) as http:
            leave = http.post("/leaves", json=LEAVE).json()
            [alert] = http.get("/alerts", params={"guard_id": "g-001"}).json()
        yield Served(url, token, leave["id"], alert["id"])
    finally:
        server.stop()
        gateway.stop()


LEAVE = {
    "guard_id": "g-002",
    "starts_at": "2026-03-02T09:00:00+08:00",
    "ends_at": "2026-03-02T10:00:00+08:00",
    "approved_by": "jt-leader-a",
}


# The run itself takes about 100 s on this machine (the subprocess is bounded at 300 s); the
# suite's 120 s per test cut it off when the machine was busy.
@pytest.mark.timeout(420)
def test_schemathesis_finds_no_failure_with_every_check(served: Served, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG.format(leave_id=served.leave_id, alert_id=served.alert_id), encoding="utf-8"
    )
    report = tmp_path / "report.json"
    cli = Path(sys.executable).parent / "schemathesis"
    run = subprocess.run(
        [
            str(cli),
            "--config-file",
            str(config),
            "run",
            f"{served.url}/openapi.json",
            "--checks",
            "all",
            "--max-response-time",  # a hang guard, not a stopwatch: see the module's docstring
            str(HANG_S),
            "--request-timeout",
            str(HANG_S),
            "--header",
            f"Authorization: Bearer {served.token}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "7",
            "--workers",
            "1",
            "--no-color",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ],
        cwd=tmp_path,  # schemathesis keeps a cache of crashes in its working directory
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    figures = json.loads(report.read_text("utf-8"))
    print(f"schemathesis: {_figures(figures)}")  # the numbers docs/api.md quotes (pytest -s)
    assert run.returncode == 0, run.stdout[-8000:]
    assert figures["failures"] == [] and figures["errors"] == []
    assert figures["test_cases"]["with_failures"] == 0
    # The API's 13 routes, the live page's 3 (not its endless stream), /health, /ready and
    # /metrics; no /iclock.
    assert figures["operations"]["tested"] == 19
    assert {p["status"] for p in figures["phases"].values()} == {"success"}
    assert figures["test_cases"]["generated"] >= 9 * MAX_EXAMPLES
    # The run reached the core of every write, not only its validation.
    assert {
        "POST /reports",
        "POST /leaves",
        "POST /leaves/{leave_id}/cancel",
        "POST /alerts/{alert_id}/acknowledge",
        "GET /ledger",
        "GET /ledger/timeline",
        "POST /alerts/{alert_id}/resolve",
    } <= _reached(figures)


def _reached(figures: dict[str, Any]) -> set[str]:
    """Operations for which some generated request got past validation and lookup: accepted
    (2xx) or refused by the stored state (409, e.g. a leave cancelled again)."""
    return {
        operation
        for operation, phases in figures["valid_rates"].items()
        if any(rates["accepted"] or rates["conflicts"] for rates in phases.values())
    }


def _figures(figures: dict[str, Any]) -> str:
    cases = figures["test_cases"]
    return (
        f"{cases['generated']} test cases generated, {cases['with_failures']} with failures, "
        f"{cases['without_checks']} without checks, {len(figures['failures'])} unique failures, "
        f"{figures['operations']['tested']} operations, {figures['running_time']:.1f} s; "
        f"reached: {sorted(_reached(figures))}"
    )
