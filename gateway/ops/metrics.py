"""Prometheus metrics of a running gateway, read live at scrape time.

Every gateway gets its own ``CollectorRegistry`` (never the process-global one), so several
gateways in one process (tests, the demo) each expose only their own figures. What is already
counted elsewhere is not counted twice: ``GatewayCollector`` reads the pipeline's counters, the
queue, the MQTT adapter and the database when Prometheus scrapes; only the batch latency, which
exists nowhere else, is a ``Histogram`` observed by the pipeline thread (``BatchTimer``).

Label values are counter names the code chose, destination names from the site file and alert
types: never bytes from a device's payload, so no input can mint a time series.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from drivers.mqtt.ingest_types import Ingest
from gateway.clock import Clock
from gateway.db.models import AlertRow
from gateway.field_devices import READER_STATES, TERMINAL_STATES
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.counters import PipelineCounters

__all__ = ["PREFIX", "BatchTimer", "GatewayCollector"]

log = logging.getLogger(__name__)

PREFIX = "guard_gateway"

LABEL_OF_FAMILY = {
    "rejected": "reason",
    "dropped": "reason",
    "ignored": "reason",
    "quarantined": "reason",
    "errors": "kind",
    "purged": "table",
    "events": "type",
    "alarms": "kind",
    "fixes": "outcome",
    "scans": "outcome",
    "punches": "outcome",
}
"""The label a counter family's second part goes in (``dropped.stale`` →
``guard_gateway_dropped_total{reason="stale"}``); a family not listed uses ``name``."""

BATCH_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""From one small batch on SQLite (about a millisecond) to a full one waiting on a database."""


class BatchTimer:
    """The pipeline's batch latency: ``guard_gateway_pipeline_batch_seconds`` (a histogram of
    the wall time one batch took from decoding to commit) and the inputs those batches held."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.seconds = Histogram(
            f"{PREFIX}_pipeline_batch_seconds",
            "Wall time a pipeline batch takes, decoding to commit (retries included).",
            buckets=BATCH_BUCKETS_S,
            registry=registry,
        )
        self._inputs = Histogram(
            f"{PREFIX}_pipeline_batch_inputs",
            "Raw inputs per pipeline batch.",
            buckets=(1, 10, 100, 1000, 5000),
            registry=registry,
        )

    def observe(self, inputs: int, seconds: float) -> None:
        """Record one batch of ``inputs`` raw inputs that took ``seconds``."""
        self.seconds.observe(seconds)
        self._inputs.observe(inputs)


class GatewayCollector(Collector):
    """Reads a gateway's live figures when scraped (see the module docstring).

    ``queue_depth`` and ``ingest`` are read without touching the database; the outbox and the
    alerts are two queries. When the database cannot be reached those families are left out
    and ``guard_gateway_database_up`` is 0, so a scrape never fails because of it.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        counters: PipelineCounters,
        queue_depth: Callable[[], int],
        ingest: Ingest | None,
        destinations: Sequence[str] = (),
        partition_clients: Callable[[], Mapping[int, Ingest]] | None = None,
        reader_states: Callable[[], Mapping[str, str]] | None = None,
        terminal_states: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._counters = counters
        self._queue_depth = queue_depth
        self._ingest = ingest
        self._partition_clients = partition_clients
        self._reader_states = reader_states
        self._terminal_states = terminal_states
        self._destinations = tuple(destinations)

    def describe(self) -> list[Metric]:
        # Nothing to describe up front: registering must not query the database.
        return []

    def collect(self) -> Iterator[Metric]:
        yield from _counter_families(self._counters.snapshot())
        yield GaugeMetricFamily(
            f"{PREFIX}_queue_depth",
            "Raw inputs waiting in the pipeline queue.",
            value=self._queue_depth(),
        )
        if self._ingest is not None:
            yield from _ingest_families([self._ingest])
        if self._partition_clients is not None:
            clients = self._partition_clients()
            yield GaugeMetricFamily(
                f"{PREFIX}_partitions_held",
                "Partitions this process holds (a partitioned gateway).",
                value=len(clients),
            )
            yield from _ingest_families(list(clients.values()))
        if self._reader_states is not None:
            states = self._reader_states()
            yield _state_family("reader_state", _READER_HELP, "reader", states, READER_STATES)
        if self._terminal_states is not None:
            states = self._terminal_states()
            yield _state_family(
                "terminal_state", _TERMINAL_HELP, "terminal", states, TERMINAL_STATES
            )
        try:
            outbox = _outbox_rows(self._engine)
            alerts = _open_alerts(self._engine)
        except SQLAlchemyError as exc:
            log.debug("metrics without the database: %s", exc)
            yield GaugeMetricFamily(
                f"{PREFIX}_database_up", "Whether the last scrape reached the database.", value=0
            )
            return
        yield GaugeMetricFamily(
            f"{PREFIX}_database_up", "Whether the last scrape reached the database.", value=1
        )
        yield from self._outbox_families(outbox)
        open_alerts = GaugeMetricFamily(
            f"{PREFIX}_open_alerts",
            "Alerts not resolved, by type and status (open, acknowledged).",
            labels=["type", "status"],
        )
        for alert_type, status, count in alerts:
            open_alerts.add_metric([alert_type, status], count)
        yield open_alerts

    def _outbox_families(self, rows: dict[str, _OutboxFigures]) -> Iterator[Metric]:
        pending = GaugeMetricFamily(
            f"{PREFIX}_outbox_pending",
            "Events not yet delivered, by destination (core, a group robot); refused ones apart.",
            labels=["destination"],
        )
        refused = GaugeMetricFamily(
            f"{PREFIX}_outbox_refused",
            "Events the destination refused for their content, set aside until sent again "
            "(guard-gateway outbox retry), by destination.",
            labels=["destination"],
        )
        failing = GaugeMetricFamily(
            f"{PREFIX}_outbox_failing",
            "Undelivered events tried at least once, by destination.",
            labels=["destination"],
        )
        lag = GaugeMetricFamily(
            f"{PREFIX}_outbox_lag_seconds",
            "Age of the oldest undelivered event by destination (0 when none waits).",
            labels=["destination"],
        )
        now = self._clock.now()
        for destination in sorted(set(self._destinations) | set(rows)):
            count, tried, set_aside, oldest = rows.get(destination, (0, 0, 0, None))
            pending.add_metric([destination], count)
            failing.add_metric([destination], tried)
            refused.add_metric([destination], set_aside)
            lag.add_metric([destination], 0.0 if oldest is None else now.timestamp() - oldest)
        yield from (pending, failing, refused, lag)


def _counter_families(snapshot: dict[str, int]) -> Iterator[Metric]:
    """``family.rest`` counters as one Prometheus counter per family, ``rest`` as its label."""
    families: dict[str, CounterMetricFamily] = {}
    for name, value in snapshot.items():
        family, _dot, rest = name.partition(".")
        label = LABEL_OF_FAMILY.get(family, "name")
        metric = families.get(family)
        if metric is None:
            metric = CounterMetricFamily(
                f"{PREFIX}_{family}",
                f"Pipeline counter {family}.* since the process started, by {label}.",
                labels=[label],
            )
            families[family] = metric
        metric.add_metric([rest], value)
    yield from families.values()


_READER_HELP = (
    "Checkpoint readers this process started, by state here: 1 for the reader's state "
    "(opening: its device not found yet; standby: another gateway process of the host owns "
    "it; reading; lost: owned here, its device missing, failed or held by another program), "
    "0 for the others."
)
_TERMINAL_HELP = (
    "Network clock-in terminals this process started, by state here: 1 for the terminal's "
    "state (holding: this process holds its host lock and talks to it; standby: another "
    "process of the host does), 0 for the other."
)


def _state_family(
    name: str, help_text: str, label: str, states: Mapping[str, str], known: Sequence[str]
) -> Metric:
    """One gauge per device and state: 1 for the device's current state, 0 for the others."""
    family = GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=[label, "state"])
    for device, current in sorted(states.items()):
        for state in known:
            family.add_metric([device, state], 1 if state == current else 0)
    return family


def _ingest_families(ingests: Sequence[Ingest]) -> Iterator[Metric]:
    """The MQTT figures of this process's clients (one, or one per partition held), summed;
    connected only while every one of them is."""
    stats = [ingest.stats for ingest in ingests]
    yield GaugeMetricFamily(
        f"{PREFIX}_mqtt_connected",
        "1 while connected to the broker with the subscriptions acknowledged (every partition's"
        " client, in a partitioned gateway).",
        value=1 if all(s.connected for s in stats) else 0,
    )
    for name, doc in (
        ("messages", "MQTT messages handed to the pipeline."),
        ("dropped", "MQTT messages the handoff refused (redelivered later)."),
        ("reconnects", "Successful connections after the first."),
        ("backpressure", "Offers refused because the queue was full."),
        ("acknowledged", "PUBACKs sent once messages were stored."),
        ("process_restarts", "Times the MQTT ingest process ended unasked and was restarted."),
    ):
        total = sum(int(getattr(s, name)) for s in stats)
        yield CounterMetricFamily(f"{PREFIX}_mqtt_{name}", doc, value=total)


_OutboxFigures = tuple[int, int, int, float | None]


def _outbox_rows(engine: Engine) -> dict[str, _OutboxFigures]:
    """Per destination: rows still to deliver, those tried at least once, rows refused for
    their content (set aside: ``gateway.outbox.refused``), and the creation time (POSIX
    seconds) of the oldest row still to deliver."""
    waiting = OutboxRow.refused_at.is_(None)
    stmt = (
        select(
            OutboxRow.destination,
            func.count(OutboxRow.seq).filter(waiting),
            func.count(OutboxRow.seq).filter(waiting, OutboxRow.attempts > 0),
            func.count(OutboxRow.seq).filter(OutboxRow.refused_at.is_not(None)),
            func.min(OutboxRow.created_at).filter(waiting),
        )
        .where(OutboxRow.delivered_at.is_(None))
        .group_by(OutboxRow.destination)
    )
    with engine.connect() as conn:
        return {
            destination: (
                int(count),
                int(tried),
                int(refused),
                oldest.timestamp() if oldest else None,
            )
            for destination, count, tried, refused, oldest in conn.execute(stmt)
        }


def _open_alerts(engine: Engine) -> list[tuple[str, str, int]]:
    stmt = (
        select(AlertRow.type, AlertRow.status, func.count(AlertRow.id))
        .where(AlertRow.status != "resolved")
        .group_by(AlertRow.type, AlertRow.status)
        .order_by(AlertRow.type, AlertRow.status)
    )
    with engine.connect() as conn:
        return [(str(t), str(s), int(n)) for t, s, n in conn.execute(stmt)]
