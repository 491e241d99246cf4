"""JT/T 808 (部标) terminals: stream framing, messages, location bodies, the platform's replies,
and the two payload codecs (raw frames as ``jt808``, EMQX gateway JSON as ``jt808-emqx``)."""

from drivers.gps.jt808.codec import Jt808Codec, decode_messages
from drivers.gps.jt808.emqx import EmqxJt808Codec
from drivers.gps.jt808.framing import FrameError, Jt808Framer, RawFrame
from drivers.gps.jt808.message import Header, Jt808Message, parse_frame
from drivers.gps.jt808.reply import Jt808Platform

__all__ = [
    "EmqxJt808Codec",
    "FrameError",
    "Header",
    "Jt808Codec",
    "Jt808Framer",
    "Jt808Message",
    "Jt808Platform",
    "RawFrame",
    "decode_messages",
    "parse_frame",
]
