"""``bench --scenario delivery``: events/s delivered from the outbox to a management core.

The core is the fwsim core stub (``fwsim core-stub``) in its own process, over real HTTP on
127.0.0.1, verifying each signature. For each worker count (``--workers``, default 1 and 2) a
fresh database gets ``--events`` outbox rows (default 5,000) for 100 subjects, written in
bulk, and a gateway is built as ``guard-gateway run`` builds it (``build_gateway`` with the
core's URL and secret); the rate is from its start to the last row marked delivered.

More than one worker needs the ``delivery_workers`` setting (``GATEWAY_DELIVERY_WORKERS``); on a
gateway without it a leg asking for more than one reports ``"available": false`` and why,
because two ``DeliveryWorker`` instances on one outbox, with no row claiming, would each send
every row.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from gateway.bench.common import bench_database
from gateway.bench.measures import machine_facts
from gateway.bootstrap import build_gateway, free_port
from gateway.clock import SystemClock
from gateway.outbox.cloudevents import build_event, canonical_json
from gateway.outbox.tables import OutboxRow
from gateway.settings import Settings

__all__ = ["run"]

DEFAULT_WORKERS = (1, 2)
SUBJECTS = 100
STALL_S = 30.0
_ROWS_PER_INSERT = 5000


def run(args: argparse.Namespace) -> dict[str, Any]:
    workers_list = tuple(args.workers or DEFAULT_WORKERS)
    events: int = args.events or 5000
    secret = secrets.token_hex(24)
    port = free_port()
    stub = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from fwsim.cli import main; sys.exit(main(sys.argv[1:]))",
            "core-stub",
            "--port",
            str(port),
            "--secret",
            secret,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    legs = []
    url = "sqlite"
    try:
        assert stub.stdout is not None
        stub.stdout.readline()  # "core stub listening ...": it accepts from now on
        base = f"http://127.0.0.1:{port}"
        for workers in workers_list:
            leg, url = _leg(workers, events, base, secret, args.database_url)
            legs.append(leg)
    finally:
        stub.terminate()
        stub.wait(10)
    return {
        "scenario": "delivery",
        "machine": machine_facts(url),
        "events": events,
        "core": "fwsim core stub, own process, HTTP on 127.0.0.1",
        "legs": legs,
    }


def _leg(
    workers: int, events: int, base: str, secret: str, database_url: str | None
) -> tuple[dict[str, Any], str]:
    if workers > 1 and "delivery_workers" not in Settings.model_fields:
        return {
            "workers": workers,
            "available": False,
            "reason": "this gateway runs one delivery worker per process (no delivery_workers "
            "setting); two DeliveryWorker instances would each send every row",
        }, database_url or "sqlite"
    if workers > 1 and not (database_url or "").startswith("postgresql"):
        return {
            "workers": workers,
            "available": False,
            "reason": "several delivery workers need PostgreSQL (row locks); on SQLite the "
            "gateway refuses GATEWAY_DELIVERY_WORKERS above 1",
        }, database_url or "sqlite"
    httpx.post(f"{base}/_stub/reset", timeout=5).raise_for_status()
    with tempfile.TemporaryDirectory(prefix="gg-bench-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        with bench_database(url) as engine:
            _write_outbox(engine, events)
            extra: dict[str, Any] = {} if workers == 1 else {"delivery_workers": workers}
            settings = Settings(
                database_url=url,
                core_url=f"{base}/events",
                core_secret=SecretStr(secret),
                **extra,
            )
            gateway = build_gateway(
                settings, SystemClock(), with_ingest=False, with_field_devices=False
            )
            began = time.perf_counter()
            gateway.start()
            try:
                delivered, done = _await_delivered(engine, events)
            finally:
                gateway.stop()
            seconds = max(done - began, 1e-9)
    snapshot = httpx.get(f"{base}/_stub/events", timeout=30).json()
    leg = {
        "workers": workers,
        "available": True,
        "delivered": delivered,
        "core_accepted": len(snapshot["events"]),
        "core_duplicates": len(snapshot["duplicates"]),
        "core_rejected": snapshot["rejected"],
        "seconds": round(seconds, 3),
        "events_per_s": round(delivered / seconds, 1),
    }
    return leg, url


def _write_outbox(engine: Engine, events: int) -> None:
    """``events`` pending rows for the core, as the pipeline writes them (CloudEvents bodies)."""
    now = SystemClock().now()
    rows: list[dict[str, Any]] = []
    with Session(engine) as session, session.begin():
        for k in range(events):
            event_id = str(uuid.UUID(int=k + 1))
            subject = f"guard/g-{k % SUBJECTS:06d}"
            when = now - timedelta(seconds=events - k)
            body = build_event(
                event_id=event_id,
                source="urn:guard-gateway:bench",
                type="presence.arrived",
                subject=subject,
                time=when,
                data={"sequence": k, "padding": "x" * 200},
            )
            rows.append(
                {
                    "event_id": event_id,
                    "destination": "core",
                    "subject": subject,
                    "type": "presence.arrived",
                    "event_time": when,
                    "body": canonical_json(body),
                    "created_at": when,
                    "attempts": 0,
                    "next_attempt_at": when,
                }
            )
            if len(rows) >= _ROWS_PER_INSERT:
                session.execute(insert(OutboxRow), rows)
                rows = []
        if rows:
            session.execute(insert(OutboxRow), rows)


def _await_delivered(engine: Engine, events: int) -> tuple[int, float]:
    """Poll the outbox until every row is delivered or none was for ``STALL_S``."""
    seen, changed = -1, time.perf_counter()
    query = select(func.count()).select_from(OutboxRow).where(OutboxRow.delivered_at.is_not(None))
    while True:
        with engine.connect() as conn:
            delivered = int(conn.scalar(query) or 0)
        now = time.perf_counter()
        if delivered >= events:
            return delivered, now
        if delivered != seen:
            seen, changed = delivered, now
        elif now - changed > STALL_S:
            return delivered, now
        time.sleep(0.05)
