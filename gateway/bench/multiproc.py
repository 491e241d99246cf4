"""The flood run over N processes of ``guard-gateway run`` sharing one broker and one PostgreSQL.

The contract the launcher follows: each process is started with ``GATEWAY_PARTITIONS=16`` (the
``partitions`` setting), its own ``GATEWAY_NODE_ID``, the same ``GATEWAY_DATABASE_URL`` and
``GATEWAY_MQTT_URL``, and the same site file (``--site``); the processes share the 16
partitions through leases, and each one's ``/health`` shows the partitions it holds. The
launcher starts them (by pid), waits until the 16 partitions are held between them, publishes
the load, counts the rows in ``positions`` until every fix is stored, and stops them by pid.

A gateway without the ``partitions`` setting cannot share a broker's devices between
processes: ``launch_flood`` then refuses with ``MultiProcessUnavailable`` before starting any.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from gateway.bench.baseline import publish_load
from gateway.bench.e2e import PUBLISHERS, bench_site, fixes
from gateway.bootstrap import free_port
from gateway.clock import SystemClock
from gateway.db.engine import make_engine
from gateway.db.migrate import upgrade
from gateway.db.models import PositionRow
from gateway.settings import Settings

__all__ = [
    "PARTITIONS",
    "Launched",
    "MultiProcessUnavailable",
    "await_partitions",
    "gateways",
    "held_by",
    "launch_flood",
    "partitions_held",
]

PARTITIONS = 16
READY_S = 120.0
STALL_S = 30.0


class MultiProcessUnavailable(RuntimeError):
    """This gateway (or this database) cannot run the flood over several processes."""


def check_available(database_url: str | None) -> None:
    """Raise ``MultiProcessUnavailable`` saying why a multi-process run cannot happen here."""
    if "partitions" not in Settings.model_fields:
        raise MultiProcessUnavailable(
            "this gateway has no partitions setting (GATEWAY_PARTITIONS): its processes cannot "
            "share one broker's devices, so only --processes 1 runs"
        )
    if not database_url or not database_url.startswith("postgresql"):
        raise MultiProcessUnavailable(
            "several processes share their partitions through leases in PostgreSQL: "
            "give --database-url postgresql+psycopg://..."
        )


def launch_flood(
    *, processes: int, terminals: int, messages: int, database_url: str, broker_url: str
) -> dict[str, Any]:
    """Run the flood over ``processes`` gateways; positions/s from the first publish to the
    moment the positions table holds every fix. The database must hold no bench rows."""
    check_available(database_url)
    now = SystemClock().now()
    with tempfile.TemporaryDirectory(prefix="gg-bench-mp-") as tmp:
        site = Path(tmp) / "bench-site.json"
        site.write_text(json.dumps(bench_site(terminals, now)), encoding="utf-8")
        engine = make_engine(database_url)
        upgrade(engine)  # `run` refuses a database behind the migrations
        engine.dispose()
        with gateways(processes, site, database_url, broker_url, Path(tmp)) as launched:
            ready_s = await_partitions(launched.ports, Path(tmp))
            engine = make_engine(database_url)
            try:
                before = _positions(engine)
                load = list(fixes(terminals, messages, now))
                cpu_before = launched.cpu()
                began = time.perf_counter()
                publish_load(broker_url, load, PUBLISHERS)
                published = time.perf_counter() - began
                stored, done = _await_rows(engine, before + messages)
                cpu = launched.cpu_since(cpu_before)
            finally:
                engine.dispose()
    seconds = max(done - began, 1e-9)
    taken = max(stored - before, 1)
    return {
        "processes": processes,
        "partitions": PARTITIONS,
        "ready_seconds": round(ready_s, 3),
        "stored": stored - before,
        "publish_seconds": round(published, 3),
        "seconds": round(seconds, 3),
        "fixes_per_s": round((stored - before) / seconds, 1),
        "cpu_seconds": {name: round(value, 2) for name, value in cpu.items()},
        "cpu_us_per_fix": {name: round(value * 1e6 / taken, 1) for name, value in cpu.items()},
    }


def partitions_held(health: dict[str, Any]) -> int:
    """How many partitions one process's ``/health`` says it holds (its ``cluster`` block's
    ``held``: partition → lease epoch)."""
    cluster = health.get("cluster")
    held = cluster.get("held") if isinstance(cluster, dict) else None
    return len(held) if isinstance(held, dict) else 0


@dataclass(frozen=True)
class Launched:
    """The gateways ``gateways`` started: their API ports and process ids, in order."""

    ports: list[int]
    pids: list[int]

    def cpu(self) -> dict[int, float]:
        """CPU seconds used so far by each gateway process and each of its children (its MQTT
        ingest processes), by process id."""
        used = {pid: cpu_seconds(pid) for pid in self.pids}
        for pid in self.pids:
            used.update({child: cpu_seconds(child) for child in child_pids(pid)})
        return used

    def cpu_since(self, before: dict[int, float]) -> dict[str, float]:
        """CPU seconds used since ``before`` (``cpu()``) by the gateway processes and by their
        MQTT ingest processes (``mqtt_clients``: 0 when the clients run in the gateways); a
        child started since counts whole, one ended since is not counted."""
        now = self.cpu()
        spent = {pid: used - before.get(pid, 0.0) for pid, used in now.items()}
        gateways_s = sum(spent.get(pid, 0.0) for pid in self.pids)
        return {"gateways": gateways_s, "mqtt_clients": sum(spent.values()) - gateways_s}


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds process ``pid`` used so far (/proc); 0 once it is gone."""
    try:
        after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(after_name[11]) + int(after_name[12])) / _CLOCK_TICKS


def child_pids(pid: int) -> list[int]:
    """The process ids of the children of process ``pid`` (/proc); none once it is gone."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@contextmanager
def gateways(
    processes: int,
    site: Path | None,
    database_url: str,
    broker_url: str,
    tmp: Path,
    env: dict[str, str] | None = None,
) -> Iterator[Launched]:
    """Start ``processes`` gateways (each loading ``site`` first, if given; ``env`` added to
    their environment); yield their API ports and pids; stop each by its pid."""
    started: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    command = [str(Path(sys.executable).with_name("guard-gateway")), "run"]
    if site is not None:
        command += ["--site", str(site)]
    client_prefix = f"gg-bench-{time.time_ns()}"
    with ExitStack() as stack:
        for n in range(processes):
            port = free_port()
            environment = {
                **os.environ,
                **(env or {}),
                "GATEWAY_DATABASE_URL": database_url,
                "GATEWAY_MQTT_URL": broker_url,
                "GATEWAY_PARTITIONS": str(PARTITIONS),
                "GATEWAY_NODE_ID": f"bench-{n}",
                "GATEWAY_API_PORT": str(port),
                # One prefix for all: a partition keeps its client id, and so its session,
                # whichever process holds it.
                "GATEWAY_MQTT_CLIENT_ID": client_prefix,
            }
            log = stack.enter_context((tmp / f"gateway-{n}.log").open("wb"))
            process = subprocess.Popen(
                command, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
            started.append(process)
            ports.append(port)
        try:
            yield Launched(ports, [process.pid for process in started])
        finally:
            for process in started:
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGTERM)
            for process in started:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(10)


def await_partitions(ports: list[int], logs: Path) -> float:
    """Seconds until the processes' ``/health`` together show all partitions held; on a time-out
    the error quotes the end of each gateway's log (``*.log`` in ``logs``)."""
    try:
        return _await_partitions(ports)
    except TimeoutError as exc:
        said = [p.read_text(errors="replace")[-1500:] for p in sorted(logs.glob("*.log"))]
        raise TimeoutError(f"{exc}; the gateways said:\n" + "\n".join(said)) from None


def held_by(ports: list[int]) -> list[int]:
    """How many partitions each process (by API port) says it holds; 0 for one that does not
    answer (yet)."""
    held = []
    for port in ports:
        try:
            body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            body = {}
        held.append(partitions_held(body))
    return held


def _await_partitions(ports: list[int]) -> float:
    began = time.perf_counter()
    while time.perf_counter() - began < READY_S:
        if sum(held_by(ports)) >= PARTITIONS:
            return time.perf_counter() - began
        time.sleep(0.25)
    raise TimeoutError(f"the gateways did not hold all {PARTITIONS} partitions in {READY_S} s")


def _positions(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(PositionRow)) or 0)


def _await_rows(engine: Any, target: int) -> tuple[int, float]:
    """Poll ``positions`` until it holds ``target`` rows or stops growing for ``STALL_S``."""
    seen, changed = -1, time.perf_counter()
    while True:
        rows = _positions(engine)
        now = time.perf_counter()
        if rows >= target:
            return rows, now
        if rows != seen:
            seen, changed = rows, now
        elif now - changed > STALL_S:
            return rows, now
        time.sleep(0.1)
