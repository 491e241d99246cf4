"""The embedded amqtt broker, for machines without the mosquitto binary.

amqtt is asyncio-based; it gets its own event loop in its own daemon thread so it works the same
whether or not the caller runs a loop, and callers talk to it only through ``start``/``stop``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any

from drivers.mqtt._running import HOST, RunningBroker

__all__ = ["AmqttBroker"]

logger = logging.getLogger(__name__)

_STOP_TIMEOUT_S = 10.0
_SHUTDOWN_GRACE_S = 3.0


def _config(port: int) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{HOST}:{port}"}},
        # Only the anonymous-auth plugin: the default set adds packet logging and $SYS topics,
        # which cost throughput and fill test logs.
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


async def _shutdown(broker: Any, port: int) -> None:
    """Free the port first, then let amqtt shut down, giving up after a while.

    amqtt's ``shutdown()`` sometimes hangs while it cleans up a session whose client is still
    connected, and it closes its listener only after that; a restart on the same port would then
    find the port taken. So the listeners are closed first (``_servers`` is amqtt's own table).
    """
    for server in getattr(broker, "_servers", {}).values():
        await server.close_instance()
    try:
        await asyncio.wait_for(broker.shutdown(), timeout=_SHUTDOWN_GRACE_S)
    except TimeoutError:
        logger.warning("amqtt broker on port %d: shutdown hung; abandoning its sessions", port)


async def _cancel_leftover_tasks() -> None:
    current = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


class AmqttBroker(RunningBroker):
    """An amqtt ``Broker`` on ``127.0.0.1:port`` in a private thread and event loop.

    Keeps no sessions across ``restart()`` and none for anonymous clients after they disconnect
    (amqtt's behaviour); tests of persistent sessions need mosquitto.
    """

    kind = "amqtt"

    def __init__(self, port: int, startup_timeout_s: float) -> None:
        super().__init__(port, startup_timeout_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._broker is not None

    def start(self) -> None:
        if self.running:
            return
        # Imported here: amqtt pulls in websockets and transitions, needless when mosquitto runs.
        from amqtt.broker import Broker

        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=loop.run_forever, name=f"amqtt-broker-{self.port}", daemon=True
        )
        thread.start()
        self._loop, self._thread = loop, thread

        async def boot() -> Any:
            broker = Broker(_config(self.port), loop=loop)
            await broker.start()
            return broker

        future = asyncio.run_coroutine_threadsafe(boot(), loop)
        try:
            self._broker = future.result(timeout=self._startup_timeout_s)
        except (Exception, concurrent.futures.TimeoutError) as exc:
            self.stop()
            raise self._startup_failed(repr(exc)) from exc
        # No TCP probe here: Broker.start() returns only once its listener is bound, and amqtt
        # logs an error for every connection that closes without a CONNECT.

    def stop(self) -> None:
        loop, thread, broker = self._loop, self._thread, self._broker
        self._loop, self._thread, self._broker = None, None, None
        if loop is None:
            return
        if broker is not None:
            future = asyncio.run_coroutine_threadsafe(_shutdown(broker, self.port), loop)
            try:
                future.result(timeout=_STOP_TIMEOUT_S)
            except Exception:
                logger.exception("amqtt broker on port %d did not shut down cleanly", self.port)
        # amqtt leaves per-connection and broadcast tasks behind; closing a loop with pending
        # tasks makes their coroutines complain when garbage-collected. Cancel and await them.
        drained = asyncio.run_coroutine_threadsafe(_cancel_leftover_tasks(), loop)
        try:
            drained.result(timeout=_STOP_TIMEOUT_S)
        except Exception:
            logger.exception("amqtt broker on port %d left tasks that would not end", self.port)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=_STOP_TIMEOUT_S)
        if not loop.is_running():
            loop.close()
