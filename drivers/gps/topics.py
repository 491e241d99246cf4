"""Which codec a topic's payload goes to, and which device it names.

Topics (``prefix`` defaults to ``devices`` and may itself contain ``/``):

* ``<prefix>/<device_id>/json`` -> ``json``; ``.../nmea`` -> ``nmea``; ``.../jt808`` -> ``jt808``
  (binary frames or hex text), with the device id as hint.
* ``owntracks/<user>/<device>`` -> ``owntracks`` with device id ``<user>/<device>``. Sub-topics
  (``/event``, ``/waypoint``, ``/cmd``, ``/info``, ``/status``...) return ``None``: they carry no
  location reports, and not subscribing to them keeps transitions from being counted as errors.
* ``jt808/<clientid>/<phone>/up`` -> ``jt808-emqx`` with the phone as hint and the client id kept
  (EMQX's JT/T 808 gateway uplink; EMQX makes a terminal's client id its phone, so the two must
  agree).

Anything else returns ``None``.

Downlinks (:func:`downlink_topic`): a JT/T 808 platform reply to a terminal whose frames came on
``<prefix>/<device_id>/jt808`` goes to ``<prefix>/<device_id>/jt808/down`` (QoS 1). The gateway
does not subscribe to it (``+`` matches one level), so it never reads its own replies.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TopicRoute", "downlink_topic", "route_topic", "subscription_filters"]

_KINDS = {"json": "json", "nmea": "nmea", "jt808": "jt808"}
_DOWNLINKS = {"jt808": "jt808/down"}


@dataclass(frozen=True, slots=True)
class TopicRoute:
    """Where a topic's payload goes: the codec's format name and the device id in the topic
    (``client_id``: the EMQX client id level of a ``jt808-emqx`` topic, else ``None``)."""

    format_name: str
    device_hint: str | None
    client_id: str | None = None


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
            return TopicRoute("jt808-emqx", levels[2], client_id=levels[1])
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


def downlink_topic(channel: str, device_id: str, prefix: str = "devices") -> str:
    """The topic a ``Downlink`` of ``channel`` to ``device_id`` is published on.

    Raises ``ValueError`` for a channel without a downlink or a device id that is not one
    topic level (it came from a topic level, so this is a bug, never a terminal's doing)."""
    if channel not in _DOWNLINKS:
        raise ValueError(f"no downlink topic for channel {channel!r}")
    if not _ok(device_id) or "/" in device_id:
        raise ValueError(f"device id {device_id!r} is not one topic level")
    return f"{prefix.strip('/')}/{device_id}/{_DOWNLINKS[channel]}"
