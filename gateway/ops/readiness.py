"""Liveness and readiness of a running gateway, as the checks ``/health`` and ``/ready`` report.

Liveness asks only whether the process can still do its work (the pipeline's owner thread
runs): a supervisor restarts a gateway that is not alive. Readiness asks whether it does its
work now: the broker connected, the database answering, its schema the one this version needs.
A gateway that is alive but not ready must not be restarted in a loop; it recovers by itself
once the broker or the database is back, except for migrations, which an operator applies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from drivers.mqtt.ingest_types import Ingest
from gateway.db.migrate import current, head
from gateway.errors import ConfigError

__all__ = ["Check", "Readiness", "first_line", "require_current_schema", "schema_behind"]


@dataclass(frozen=True)
class Check:
    """One named check: ``ok`` and, in words, what was found."""

    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail}


def schema_behind(engine: Engine, wanted: str | None = None) -> str | None:
    """``None`` when ``engine``'s database is at ``wanted`` (default: this version's newest
    migration); else what is wrong and how to fix it, in words an operator acts on. Database
    errors propagate."""
    wanted = wanted or head()
    found = current(engine)
    if found == wanted:
        return None
    where = "has never been migrated" if found is None else f"is at revision {found}"
    return (
        f"the database {where}; this version of guard-gateway needs revision {wanted}: "
        "back it up, then run `guard-gateway db upgrade`"
    )


def require_current_schema(engine: Engine) -> None:
    """Raise ``ConfigError`` unless ``engine``'s database is reachable and at the newest
    migration: a service must not write with an older schema, nor migrate one on its own at
    start (an upgrade is a step an operator takes, after a backup). Changes nothing."""
    try:
        behind = schema_behind(engine)
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"refusing to start: the database is unreachable: {first_line(exc)}"
        ) from exc
    if behind is not None:
        raise ConfigError(f"refusing to start: {behind}")


class Readiness:
    """The checks of one gateway. ``ingest`` is ``None`` when it runs without MQTT (then the
    broker is not checked); ``pipeline_alive`` tells whether the owner thread runs.

    ``partition_clients``, in a partitioned gateway: the MQTT clients of the partitions this
    process holds now, by partition. The broker check then asks every one of them: a process is
    ready when each partition it holds is connected (one holding none, with more processes than
    partitions, is ready: it serves the API).
    """

    def __init__(
        self,
        engine: Engine,
        ingest: Ingest | None,
        pipeline_alive: Callable[[], bool],
        *,
        partition_clients: Callable[[], Mapping[int, Ingest]] | None = None,
    ) -> None:
        self._engine = engine
        self._ingest = ingest
        self._partition_clients = partition_clients
        self._pipeline_alive = pipeline_alive
        self._head = head()  # read once: the shipped migrations do not change while running

    def liveness(self) -> Check:
        """The pipeline thread runs (the process answering is the rest of liveness)."""
        if self._pipeline_alive():
            return Check("pipeline", True, "pipeline thread running")
        return Check("pipeline", False, "pipeline thread not running")

    def readiness(self) -> list[Check]:
        """Every check, in order: pipeline, broker, database, migrations."""
        checks = [self.liveness()]
        if self._ingest is not None:
            checks.append(self._broker(self._ingest))
        if self._partition_clients is not None:
            checks.append(self._partitions(self._partition_clients()))
        database = self._database()
        checks.append(database)
        if not database.ok:
            checks.append(Check("migrations", False, "not checked: the database is unreachable"))
        else:
            checks.append(self._migrations())
        return checks

    @staticmethod
    def _broker(ingest: Ingest) -> Check:
        stats = ingest.stats
        if stats.connected:
            return Check("broker", True, "connected, subscriptions acknowledged")
        why = stats.last_error or "no connection yet"
        return Check("broker", False, f"not connected: {why}")

    @staticmethod
    def _partitions(clients: Mapping[int, Ingest]) -> Check:
        if not clients:
            return Check("broker", True, "no MQTT client: no partition held here has a device")
        down = {p: c.stats for p, c in sorted(clients.items()) if not c.stats.connected}
        if not down:
            return Check("broker", True, f"the {len(clients)} partitions held here are connected")
        why = "; ".join(
            f"partition {p}: {stats.last_error or 'no connection yet'}" for p, stats in down.items()
        )
        return Check("broker", False, f"{len(down)} of {len(clients)} not connected: {why}")

    def _database(self) -> Check:
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            return Check("database", False, f"unreachable: {first_line(exc)}")
        return Check("database", True, f"{self._engine.dialect.name} answers")

    def _migrations(self) -> Check:
        try:
            behind = schema_behind(self._engine, self._head)
        except SQLAlchemyError as exc:
            return Check("migrations", False, f"cannot read the revision: {first_line(exc)}")
        if behind is not None:
            return Check("migrations", False, behind)
        return Check("migrations", True, f"at revision {self._head}")


def first_line(exc: BaseException) -> str:
    """An error's first line: a driver's message without the SQL and background link."""
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
