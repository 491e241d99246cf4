"""Which codec a topic's payload goes to, and which device it names.

Topics (``prefix`` defaults to ``devices`` and may itself contain ``/``):

* ``<prefix>/<device_id>/json`` -> ``json``; ``.../nmea`` -> ``nmea``; ``.../jt808`` -> ``jt808``
  (binary frames or hex text), with the device id as hint.
* ``owntracks/<user>/<device>`` -> ``owntracks`` with device id ``<user>/<device>``. Sub-topics
  (``/event``, ``/waypoint``, ``/cmd``, ``/info``, ``/status``...) return ``None``: they carry no
  location reports, and not subscribing to them keeps transitions from being counted as errors.
* ``jt808/<clientid>/<phone>/up`` -> ``jt808-emqx`` with the phone as hint (EMQX's JT/T 808
  gateway uplink).

Anything else returns ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TopicRoute", "route_topic", "subscription_filters"]

_KINDS = {"json": "json", "nmea": "nmea", "jt808": "jt808"}


@dataclass(frozen=True, slots=True)
class TopicRoute:
    """Where a topic's payload goes: the codec's format name and the device id in the topic."""

    format_name: str
    device_hint: str | None


def _ok(level: str) -> bool:
    return bool(level) and "+" not in level and "#" not in level


def route_topic(topic: str, prefix: str = "devices") -> TopicRoute | None:
    """The route of a received topic, or ``None`` when the gateway does not decode it."""
    levels = topic.split("/")
    if levels[0] == "owntracks":
        if len(levels) == 3 and _ok(levels[1]) and _ok(levels[2]):
            return TopicRoute("owntracks", f"{levels[1]}/{levels[2]}")
        return None
    if levels[0] == "jt808":
        if len(levels) == 4 and levels[3] == "up" and _ok(levels[1]) and _ok(levels[2]):
            return TopicRoute("jt808-emqx", levels[2])
        return None
    head = prefix.strip("/") + "/"
    if not topic.startswith(head):
        return None
    rest = topic[len(head) :].split("/")
    if len(rest) == 2 and _ok(rest[0]) and rest[1] in _KINDS:
        return TopicRoute(_KINDS[rest[1]], rest[0])
    return None


def subscription_filters(prefix: str = "devices") -> list[str]:
    """MQTT topic filters covering every topic :func:`route_topic` accepts."""
    base = prefix.strip("/")
    return [
        f"{base}/+/json",
        f"{base}/+/nmea",
        f"{base}/+/jt808",
        "owntracks/+/+",
        "jt808/+/+/up",
    ]
