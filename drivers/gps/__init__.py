"""GPS terminal payloads arriving over MQTT: pure codecs (bytes in, position records out).

Formats: ``json`` (the gateway's own schema), ``owntracks``, ``nmea`` (NMEA 0183 sentences),
``jt808`` (JT/T 808 frames, binary or hex) and ``jt808-emqx`` (EMQX's JT/T 808 gateway JSON).
:func:`drivers.gps.topics.route_topic` picks the format from the MQTT topic and
:func:`drivers.gps.registry.codec_for` gives a codec for it. The device-facing contract is in
``docs/device-contract.md``.
"""

from drivers.gps.base import PayloadCodec
from drivers.gps.registry import FORMAT_NAMES, codec_for
from drivers.gps.topics import TopicRoute, route_topic, subscription_filters

__all__ = [
    "FORMAT_NAMES",
    "PayloadCodec",
    "TopicRoute",
    "codec_for",
    "route_topic",
    "subscription_filters",
]
