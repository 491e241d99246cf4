"""A round trip to the broker before a clean disconnect, so the last acknowledgements count.

paho writes the PUBACKs ``acknowledge`` queued, then DISCONNECT, and closes its socket at once.
Once, in a full run of the suite on a loaded machine, mosquitto delivered again at the next
connection a message whose PUBACK had been queued before the DISCONNECT (not reproduced since,
alone or under load): whatever raced there, a message acknowledged is to be gone for good.
So ``stop`` first waits for the broker to answer an UNSUBSCRIBE of a filter never subscribed:
the broker answers only once it has read it, and, TCP keeping the order, every PUBACK sent
before it. Unsubscribing from a filter the session does not hold changes nothing in it.
"""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt

__all__ = ["DRAIN_FILTER", "drain_acknowledgements"]

DRAIN_FILTER = "guard-gateway/drain"
"""A topic filter the gateway never subscribes to."""


def drain_acknowledgements(client: mqtt.Client, timeout_s: float = 2.0) -> bool:
    """Return once the broker has read everything ``client`` sent before this call, or after
    ``timeout_s``; whether it had. ``False`` at once when the client is not connected (nothing
    can be read then). Replaces ``client.on_unsubscribe``: call it only while stopping."""
    answered = threading.Event()

    def on_unsubscribe(*_args: Any) -> None:
        answered.set()

    client.on_unsubscribe = on_unsubscribe
    result, _mid = client.unsubscribe(DRAIN_FILTER)
    if result != mqtt.MQTT_ERR_SUCCESS:
        return False
    return answered.wait(timeout_s)
