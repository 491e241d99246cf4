"""Publish a scenario's planned messages to an MQTT broker on an injected clock.

One shared paho client (client id ``fwsim-gps-<random>``, unique per runner) carries every
terminal: MQTT keeps the order of one connection's QoS 1 messages, so each terminal's order is
kept, and thousands of terminals cost one socket and one network thread instead of one each.
Every message is QoS 1.

Two ways to drive it:

* ``start()`` (background thread) or ``run()`` (blocking): publishes each message when the
  clock reaches its time, sleeping ``(due - now) / clock.rate`` wall seconds in between, so an
  ``AcceleratedClock`` at 60x plays an hour in a minute.
* ``run_until(t)``: publishes everything due by ``t`` and waits for each PUBACK before the next,
  for tests on a ``ManualClock`` (advance the clock, call ``run_until(clock.now())``).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from fwsim.scenario.background import BackgroundRun
from fwsim.scenario.model import Scenario
from fwsim.scenario.plan import Publication, plan_scenario
from gateway.clock import Clock, utc

__all__ = ["BrokerAddress", "RunnerError", "ScenarioRunner", "TerminalStats", "parse_broker_url"]

log = logging.getLogger(__name__)

_MAX_WAIT_WALL_S = 0.5  # wake at least this often to notice stop()
_MAX_UNACKED = 1000


class RunnerError(RuntimeError):
    """The broker could not be reached or did not acknowledge a publication in time."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is: from ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://``."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse a broker URL; raise ``ValueError`` for another scheme or a missing host."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp"):
        raise ValueError(f"broker URL must start with mqtt:// or mqtts://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"broker URL has no host: {url!r}")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


@dataclass(slots=True)
class TerminalStats:
    """Counters of one terminal: messages handed to the broker and fixes they carried."""

    messages: int = 0
    fixes: int = 0


def _settled(info: mqtt.MQTTMessageInfo) -> bool:
    """True when acknowledged, or when paho already reports the publication as failed (it was
    sent while disconnected; paho retries it on reconnection, so there is nothing to wait on)."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True


class ScenarioRunner(BackgroundRun):
    """Plays a scenario to a broker. The plan is fixed at construction (``start`` defaults to
    the clock's current whole second), so a runner is deterministic for a given seed."""

    def __init__(
        self,
        scenario: Scenario,
        broker_url: str,
        clock: Clock,
        *,
        start: datetime | None = None,
        seed: int | None = None,
        publish_timeout_s: float = 10.0,
    ) -> None:
        self.scenario = scenario
        self.broker = parse_broker_url(broker_url)
        self.clock = clock
        self.start_time = utc(start) if start else clock.now().replace(microsecond=0)
        self.plan: list[Publication] = plan_scenario(scenario, self.start_time, seed)
        self.client_id = f"fwsim-gps-{uuid.uuid4().hex[:12]}"
        self.publish_timeout_s = publish_timeout_s
        self._stats = {spec.device_id: TerminalStats() for spec in scenario.terminals}
        self._next = 0
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._unacked: deque[mqtt.MQTTMessageInfo] = deque()

    # -- state ---------------------------------------------------------------------------
    @property
    def end_time(self) -> datetime:
        """Time of the last planned publication (the start when the plan is empty)."""
        return self.plan[-1].at if self.plan else self.start_time

    @property
    def pending(self) -> int:
        """Publications not yet made."""
        return len(self.plan) - self._next

    @property
    def finished(self) -> bool:
        """True when every planned publication has been made."""
        return self._next >= len(self.plan)

    def stats(self) -> dict[str, TerminalStats]:
        """A copy of the per-terminal counters, keyed by device id."""
        with self._lock:
            return {k: TerminalStats(v.messages, v.fixes) for k, v in self._stats.items()}

    # -- connection ----------------------------------------------------------------------
    def connect(self, timeout_s: float = 10.0) -> None:
        """Connect to the broker and start paho's network thread; raise ``RunnerError`` if the
        broker does not accept the connection within ``timeout_s``."""
        if self._client is not None:
            return
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id)
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set_context(ssl.create_default_context())
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.max_inflight_messages_set(100)
        self._client = client
        try:
            client.connect(self.broker.host, self.broker.port, keepalive=30)
        except OSError as exc:
            self._client = None
            raise RunnerError(f"cannot reach broker {self.broker.host}:{self.broker.port}") from exc
        client.loop_start()
        if not self._connected.wait(timeout_s):
            self._shutdown_client()
            raise RunnerError(f"broker {self.broker.host}:{self.broker.port} did not accept us")
        log.info("connected to %s:%d as %s", self.broker.host, self.broker.port, self.client_id)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        self._connected.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("disconnected from broker (%s); paho reconnects", reason)

    def _shutdown_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    # -- publishing ----------------------------------------------------------------------
    def _publish(self, pub: Publication) -> mqtt.MQTTMessageInfo:
        if self._client is None:
            self.connect()
        assert self._client is not None
        info = self._client.publish(pub.topic, pub.payload, qos=1)
        with self._lock:
            stats = self._stats[pub.device_id]
            stats.messages += 1
            stats.fixes += pub.fixes
        return info

    def _wait_ack(self, info: mqtt.MQTTMessageInfo) -> None:
        try:
            info.wait_for_publish(self.publish_timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise RunnerError(f"publication failed: {exc}") from exc
        if not info.is_published():
            raise RunnerError(f"no PUBACK within {self.publish_timeout_s} s")

    def run_until(self, when: datetime | None = None) -> int:
        """Publish everything due at or before ``when`` (default: the clock's now), each
        acknowledged by the broker before the next; return how many were published."""
        limit = utc(when) if when is not None else self.clock.now()
        count = 0
        with self._lock:
            start = self._next
        while start + count < len(self.plan) and self.plan[start + count].at <= limit:
            self._wait_ack(self._publish(self.plan[start + count]))
            count += 1
            with self._lock:
                self._next = start + count
        return count

    def run(self) -> None:
        """Publish in real (clock) time until the plan is done or ``stop()`` is called."""
        while not self._stop.is_set() and not self.finished:
            pub = self.plan[self._next]
            now = self.clock.now()
            if pub.at > now:
                wall_s = (pub.at - now).total_seconds() / self.clock.rate
                self._stop.wait(min(wall_s, _MAX_WAIT_WALL_S))
                continue
            self._unacked.append(self._publish(pub))
            with self._lock:
                self._next += 1
            while self._unacked and _settled(self._unacked[0]):
                self._unacked.popleft()
            if len(self._unacked) > _MAX_UNACKED:
                self._wait_ack(self._unacked.popleft())
        self._drain()

    def _drain(self) -> None:
        # One overall deadline: a dead broker must not hold stop() for a timeout per message.
        deadline = time.monotonic() + self.publish_timeout_s
        while self._unacked:
            info = self._unacked.popleft()
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
                acked = info.is_published()
            except (RuntimeError, ValueError) as exc:
                log.warning("a publication failed: %s", exc)
                continue
            if not acked:
                log.warning("%d publications not acknowledged", len(self._unacked) + 1)
                self._unacked.clear()

    def start(self) -> None:
        """Connect and run in a background thread (see ``run``)."""
        self.connect()
        self.start_background("fwsim-gps-runner")

    def stop(self) -> None:
        """Stop publishing, let outstanding PUBACKs arrive (bounded), and disconnect."""
        self._stop.set()
        self.join_background()
        self._drain()
        self._shutdown_client()

    def __enter__(self) -> ScenarioRunner:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
