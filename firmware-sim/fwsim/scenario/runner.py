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

JT/T 808 terminals with ``register`` log in through the platform's replies: the runner
subscribes to their downlink topics (``<prefix>/<id>/jt808/down``, QoS 1) before it publishes
anything. Once a terminal's planned 0x0100 has gone up, a :class:`~fwsim.scenario.login.
LoginSession` answers the platform (0x0102 with the code of its 0x8100), and that terminal's
later publications wait until the log-in is done; the other terminals go on. Its timeouts are
on the injected clock. When it fails (refused, or unanswered after its retries), the terminal
sends its held and later publications anyway, as a bridge would forward them, and the failure
is logged and counted (``TerminalStats.login_failures``). ``run_until`` waits for the replies of
a log-in under way up to ``reply_wait_s`` wall seconds each (a ``ManualClock`` does not move
by itself), so with a live platform the exchange completes within one call.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from fwsim.scenario.background import BackgroundRun
from fwsim.scenario.broker import BrokerAddress, parse_broker_url, settled
from fwsim.scenario.login import DONE, LoginSession
from fwsim.scenario.model import Scenario
from fwsim.scenario.plan import Publication, plan_scenario
from gateway.clock import Clock, utc

__all__ = ["BrokerAddress", "RunnerError", "ScenarioRunner", "TerminalStats", "parse_broker_url"]

log = logging.getLogger(__name__)

_MAX_WAIT_WALL_S = 0.5  # wake at least this often to notice stop()
_MAX_UNACKED = 1000


class RunnerError(RuntimeError):
    """The broker could not be reached or did not acknowledge a publication in time."""


@dataclass(slots=True)
class TerminalStats:
    """Counters of one terminal: messages handed to the broker (log-in frames included), the
    fixes they carried, and its log-ins done and failed."""

    messages: int = 0
    fixes: int = 0
    logins: int = 0
    login_failures: int = 0


class ScenarioRunner(BackgroundRun):
    """Plays a scenario to a broker. The plan is fixed at construction (``start`` defaults to
    the clock's current whole second), so a runner is deterministic for a given seed; only the
    frames a log-in answers the platform with are made while it runs."""

    def __init__(
        self,
        scenario: Scenario,
        broker_url: str,
        clock: Clock,
        *,
        start: datetime | None = None,
        seed: int | None = None,
        publish_timeout_s: float = 10.0,
        login_timeout_s: float = 10.0,
        login_retries: int = 2,
        reply_wait_s: float | None = None,
    ) -> None:
        self.scenario = scenario
        self.broker = parse_broker_url(broker_url)
        self.clock = clock
        self.start_time = utc(start) if start else clock.now().replace(microsecond=0)
        self.plan: list[Publication] = plan_scenario(scenario, self.start_time, seed)
        self.client_id = f"fwsim-gps-{uuid.uuid4().hex[:12]}"
        self.publish_timeout_s = publish_timeout_s
        self.login_timeout_s = login_timeout_s
        self.login_retries = login_retries
        self.reply_wait_s = publish_timeout_s if reply_wait_s is None else reply_wait_s
        self._stats = {spec.device_id: TerminalStats() for spec in scenario.terminals}
        self._next = 0
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._unacked: deque[mqtt.MQTTMessageInfo] = deque()
        self._sync = True
        # Log-ins: downlink topic -> device, the sessions under way and what waits behind them.
        self._downlink_device = {
            pub.login.downlink_topic: pub.device_id for pub in self.plan if pub.login is not None
        }
        self._downlinks: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._sessions: dict[str, LoginSession] = {}
        self._held: dict[str, deque[Publication]] = {}

    # -- state ---------------------------------------------------------------------------
    @property
    def end_time(self) -> datetime:
        """Time of the last planned publication (the start when the plan is empty)."""
        return self.plan[-1].at if self.plan else self.start_time

    @property
    def pending(self) -> int:
        """Planned publications not yet made (those waiting for a log-in included)."""
        return len(self.plan) - self._next + sum(len(h) for h in list(self._held.values()))

    @property
    def finished(self) -> bool:
        """True when every planned publication has been made and no log-in is under way."""
        return self._next >= len(self.plan) and not self._held and not self._sessions

    @property
    def logging_in(self) -> frozenset[str]:
        """The terminals whose log-in is under way."""
        return frozenset(self._sessions)

    def stats(self) -> dict[str, TerminalStats]:
        """A copy of the per-terminal counters, keyed by device id."""
        with self._lock:
            return {
                k: TerminalStats(v.messages, v.fixes, v.logins, v.login_failures)
                for k, v in self._stats.items()
            }

    # -- connection ----------------------------------------------------------------------
    def connect(self, timeout_s: float = 10.0) -> None:
        """Connect to the broker, start paho's network thread and subscribe to the downlink
        topics of the terminals that log in; raise ``RunnerError`` if the broker does not
        accept the connection (or the subscription) within ``timeout_s``."""
        if self._client is not None:
            return
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id)
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set_context(ssl.create_default_context())
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = lambda *_: self._subscribed.set()
        client.on_message = self._on_message
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
        if self._downlink_device and not self._subscribed.wait(timeout_s):
            self._shutdown_client()
            raise RunnerError("the broker did not confirm the downlink subscriptions")
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
        if self._downlink_device:
            # Here rather than once: a clean session forgets subscriptions on reconnection.
            client.subscribe([(topic, 1) for topic in self._downlink_device])
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

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._downlinks.put((message.topic, bytes(message.payload)))  # hand off only

    def _shutdown_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    # -- publishing ----------------------------------------------------------------------
    def _publish(self, topic: str, payload: bytes, device_id: str, fixes: int) -> int:
        """Hand one message to paho (waiting for its PUBACK in ``run_until``); returns 1."""
        if self._client is None:
            self.connect()
        assert self._client is not None
        info = self._client.publish(topic, payload, qos=1)
        with self._lock:
            stats = self._stats[device_id]
            stats.messages += 1
            stats.fixes += fixes
        if self._sync:
            self._wait_ack(info)
            return 1
        self._unacked.append(info)
        while self._unacked and settled(self._unacked[0]):
            self._unacked.popleft()
        if len(self._unacked) > _MAX_UNACKED:
            self._wait_ack(self._unacked.popleft())
        return 1

    def _wait_ack(self, info: mqtt.MQTTMessageInfo) -> None:
        try:
            info.wait_for_publish(self.publish_timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise RunnerError(f"publication failed: {exc}") from exc
        if not info.is_published():
            raise RunnerError(f"no PUBACK within {self.publish_timeout_s} s")

    def _dispatch(self, pub: Publication, now: datetime) -> int:
        """Publish ``pub``, or hold it while its terminal logs in; a log-in it opens starts."""
        device = pub.device_id
        if device in self._sessions:
            self._held.setdefault(device, deque()).append(pub)
            return 0
        count = self._publish(pub.topic, pub.payload, device, pub.fixes)
        if pub.login is not None:
            self._sessions[device] = LoginSession(
                device,
                pub.topic,
                pub.login,
                pub.payload,
                now,
                timeout_s=self.login_timeout_s,
                retries=self.login_retries,
            )
        return count

    def _answer(self, session: LoginSession, frames: list[bytes], now: datetime) -> int:
        """Publish what a log-in answers; once it is over, what its terminal held back."""
        count = 0
        for frame in frames:
            count += self._publish(session.topic, frame, session.device_id, 0)
        if not session.finished:
            return count
        device = session.device_id
        del self._sessions[device]
        with self._lock:
            if session.state == DONE:
                self._stats[device].logins += 1
            else:
                self._stats[device].login_failures += 1
        held = self._held.pop(device, deque())
        while held:
            count += self._dispatch(held.popleft(), now)
            if device in self._sessions:  # a new log-in: the rest waits behind it again
                self._held[device] = held
                break
        return count

    def _await_downlink(self, wait_s: float) -> bool:
        """Wait up to ``wait_s`` wall seconds for a downlink; True when one came."""
        try:
            self._inbox.append(
                self._downlinks.get(timeout=wait_s) if wait_s > 0 else self._downlinks.get_nowait()
            )
        except queue.Empty:
            return False
        return True

    def _pump(self, now: datetime) -> int:
        """Give each downlink received to its terminal's log-in and let the clock time out the
        others; returns the messages this published."""
        count = 0
        while self._inbox or self._await_downlink(0):
            topic, payload = self._inbox.popleft()
            session = self._sessions.get(self._downlink_device.get(topic, ""))
            if session is not None:
                count += self._answer(session, session.on_downlink(payload, now), now)
        for session in list(self._sessions.values()):
            count += self._answer(session, session.on_clock(now), now)
        return count

    def run_until(self, when: datetime | None = None) -> int:
        """Publish everything due at or before ``when`` (default: the clock's now), each
        acknowledged by the broker before the next, and play the log-ins this opens as far as
        the platform answers; return how many messages were published."""
        limit = utc(when) if when is not None else self.clock.now()
        self._sync = True
        count = 0
        while True:
            now = self.clock.now()
            count += self._pump(now)
            with self._lock:
                index = self._next
            if index < len(self.plan) and self.plan[index].at <= limit:
                count += self._dispatch(self.plan[index], now)
                with self._lock:
                    self._next = index + 1
                continue
            if not self._sessions or not self._await_downlink(self.reply_wait_s):
                return count

    def run(self) -> None:
        """Publish in real (clock) time until the plan is done or ``stop()`` is called."""
        self._sync = False
        while not self._stop.is_set():
            now = self.clock.now()
            self._pump(now)
            if self._next < len(self.plan) and self.plan[self._next].at <= now:
                self._dispatch(self.plan[self._next], now)
                with self._lock:
                    self._next += 1
                continue
            if self.finished:
                break
            due = [s.deadline for s in self._sessions.values() if s.deadline is not None]
            if self._next < len(self.plan):
                due.append(self.plan[self._next].at)
            wall_s = _MAX_WAIT_WALL_S
            if due:
                wall_s = min(wall_s, (min(due) - now).total_seconds() / self.clock.rate)
            self._await_downlink(max(wall_s, 0.0))
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
