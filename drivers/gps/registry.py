"""Codec lookup by format name."""

from __future__ import annotations

from collections.abc import Callable

from drivers.gps.base import PayloadCodec
from drivers.gps.json_codec import GatewayJsonCodec
from drivers.gps.jt808.codec import Jt808Codec
from drivers.gps.jt808.emqx import EmqxJt808Codec
from drivers.gps.nmea import NmeaCodec
from drivers.gps.owntracks import OwnTracksCodec
from gateway.errors import ConfigError

__all__ = ["FORMAT_NAMES", "codec_for"]

_FACTORIES: dict[str, Callable[[], PayloadCodec]] = {
    "json": GatewayJsonCodec,
    "owntracks": OwnTracksCodec,
    "nmea": NmeaCodec,
    "jt808": Jt808Codec,
    "jt808-emqx": EmqxJt808Codec,
}

FORMAT_NAMES: tuple[str, ...] = tuple(_FACTORIES)
"""Every payload format the gateway decodes."""


def codec_for(format_name: str) -> PayloadCodec:
    """A new codec instance for ``format_name`` (new each call: the NMEA one keeps state).

    Raises :class:`ConfigError` for an unknown name.
    """
    try:
        factory = _FACTORIES[format_name]
    except KeyError:
        known = ", ".join(FORMAT_NAMES)
        raise ConfigError(f"unknown payload format {format_name!r} (known: {known})") from None
    return factory()
