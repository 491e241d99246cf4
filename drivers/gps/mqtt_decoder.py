"""Turning one MQTT message into decoded positions: topic routing plus the format's codec."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from drivers.gps.base import PayloadCodec
from drivers.gps.registry import codec_for
from drivers.gps.topics import route_topic
from gateway.errors import ConfigError
from gateway.records import DecodeOutcome

__all__ = ["GpsMessageDecoder"]


class _Message(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def received_at(self) -> datetime: ...


class GpsMessageDecoder:
    """Callable decoding a message from any GPS topic; ``None`` for topics that aren't ours.

    Keeps one codec instance per format for the life of the ingest (the NMEA codec keeps each
    device's last date, the JT/T 808 one each terminal's reply flow number). ``codecs`` gives
    instances built with options (a JT/T 808 codec that answers terminals); other formats use
    the registry's. Not thread-safe: used by the pipeline's owner thread only.
    """

    def __init__(
        self, prefix: str = "devices", codecs: Mapping[str, PayloadCodec] | None = None
    ) -> None:
        self._prefix = prefix
        self._codecs: dict[str, PayloadCodec] = dict(codecs or {})
        for name, codec in self._codecs.items():
            if codec.format_name != name:
                raise ConfigError(f"codec for {name!r} decodes {codec.format_name!r}")

    def __call__(self, message: _Message) -> DecodeOutcome | None:
        route = route_topic(message.topic, self._prefix)
        if route is None:
            return None
        codec = self._codecs.get(route.format_name)
        if codec is None:
            codec = self._codecs[route.format_name] = codec_for(route.format_name)
        return codec.decode(message.payload, message.received_at, route.device_hint)
