"""Turning one MQTT message into decoded positions: topic routing plus the format's codec.

Identity: the topic names the device that sent the message (each terminal's broker account may
publish only under its own topics, see ``guard-gateway broker-config``). Every codec refuses a
payload whose own identity names another device (``device id mismatch: ...``); this decoder
also refuses an EMQX uplink whose client id is not its phone, and, whatever a codec returns,
never lets a fix or alarm through under another device than the topic's: such a record is
turned into a reject of the topic's device. So a message is never attributed to a device other
than the one whose topic it came on.

A message the broker hands over as retained (MQTT retain flag) has its alarm records marked
``retained``: a retained SOS comes again at each new subscription, and the alarm rules tell
such a replay from a new emergency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from drivers.gps.base import PayloadCodec, identity_mismatch
from drivers.gps.jt808.codec import same_terminal
from drivers.gps.registry import codec_for
from drivers.gps.topics import TopicRoute, route_topic
from gateway.errors import ConfigError
from gateway.records import AlarmSignal, DecodeOutcome, PositionFix, Rejected

__all__ = ["GpsMessageDecoder"]

_JT808_FORMATS = frozenset({"jt808", "jt808-emqx"})

ROUTE_CACHE_SIZE = 200_000
"""Topics whose route is remembered (one per device and format in the field); past it the
memory starts over, so topics a sender makes up cannot grow it without bound."""


class _Message(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def retain(self) -> bool: ...


class GpsMessageDecoder:
    """Callable decoding a message from any GPS topic; ``None`` for topics that aren't ours.

    Keeps one codec instance per format for the life of the ingest (the NMEA codec keeps each
    device's last date, the JT/T 808 one each terminal's reply flow number). ``codecs`` gives
    instances built with options (a JT/T 808 codec that answers terminals); other formats use
    the registry's. Every fix and alarm returned is the topic's device's (module docstring).
    Not thread-safe: used by the pipeline's owner thread only.
    """

    def __init__(
        self, prefix: str = "devices", codecs: Mapping[str, PayloadCodec] | None = None
    ) -> None:
        self._prefix = prefix
        self._routes: dict[str, TopicRoute | None] = {}
        self._codecs: dict[str, PayloadCodec] = dict(codecs or {})
        for name, codec in self._codecs.items():
            if codec.format_name != name:
                raise ConfigError(f"codec for {name!r} decodes {codec.format_name!r}")

    def __call__(self, message: _Message) -> DecodeOutcome | None:
        topic = message.topic
        try:
            route = self._routes[topic]
        except KeyError:  # the first message of this topic (routing is a pure function)
            if len(self._routes) >= ROUTE_CACHE_SIZE:
                self._routes.clear()
            route = self._routes[topic] = route_topic(topic, self._prefix)
        if route is None:
            return None
        hint = route.device_hint
        # Leading zeros aside: EMQX keeps the phone's BCD digits as sent in both levels.
        if route.client_id is not None and hint and route.client_id.lstrip("0") != hint.lstrip("0"):
            reason = identity_mismatch(route.client_id, hint, "EMQX client id")
            return DecodeOutcome(rejects=(Rejected(reason, message.payload, hint),))
        codec = self._codecs.get(route.format_name)
        if codec is None:
            codec = self._codecs[route.format_name] = codec_for(route.format_name)
        outcome = codec.decode(message.payload, message.received_at, hint)
        outcome = _only_the_topics_device(outcome, route)
        if message.retain and (outcome.alarms or any(f.alarms for f in outcome.fixes)):
            return _marked_retained(outcome)
        return outcome


def _marked_retained(outcome: DecodeOutcome) -> DecodeOutcome:
    """``outcome`` with its alarms and its fixes carrying alarms marked ``retained``."""
    return replace(
        outcome,
        fixes=tuple(replace(f, retained=True) if f.alarms else f for f in outcome.fixes),
        alarms=tuple(replace(a, retained=True) for a in outcome.alarms),
    )


def _only_the_topics_device(outcome: DecodeOutcome, route: TopicRoute) -> DecodeOutcome:
    """``outcome`` with every fix or alarm of another device than the topic's made a reject
    of the topic's device (the codecs already refuse them; this holds whatever a codec does)."""
    hint = route.device_hint
    if not hint:
        return outcome
    fixes = outcome.fixes
    if not outcome.alarms and all(f.device_id == hint for f in fixes):
        return outcome  # the common case: the topic's own fixes (exactly its id) and no alarm
    jt808 = route.format_name in _JT808_FORMATS

    def foreign(record: PositionFix | AlarmSignal) -> bool:
        own = record.device_id
        return not (same_terminal(own, hint) if jt808 else own == hint)

    records: list[PositionFix | AlarmSignal] = [*outcome.fixes, *outcome.alarms]
    strays = [r for r in records if foreign(r)]
    if not strays:
        return outcome
    refused = tuple(
        Rejected(
            identity_mismatch(r.device_id, hint, "record"), r.raw.encode(errors="replace"), hint
        )
        for r in strays
    )
    return DecodeOutcome(
        fixes=tuple(f for f in outcome.fixes if not foreign(f)),
        rejects=(*outcome.rejects, *refused),
        scans=outcome.scans,
        punches=outcome.punches,
        alarms=tuple(a for a in outcome.alarms if not foreign(a)),
        replies=outcome.replies,
    )
