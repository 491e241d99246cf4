"""JT/T 808 (部标) terminals: stream framing, messages, location bodies, replies, and the two
payload codecs (raw frames as ``jt808``, EMQX gateway JSON as ``jt808-emqx``)."""

from drivers.gps.jt808.codec import Jt808Codec, decode_messages
from drivers.gps.jt808.emqx import EmqxJt808Codec
from drivers.gps.jt808.framing import FrameError, Jt808Framer, RawFrame
from drivers.gps.jt808.message import Header, Jt808Message, parse_frame
from drivers.gps.jt808.reply import registration_reply, reply_for

__all__ = [
    "EmqxJt808Codec",
    "FrameError",
    "Header",
    "Jt808Codec",
    "Jt808Framer",
    "Jt808Message",
    "RawFrame",
    "decode_messages",
    "parse_frame",
    "registration_reply",
    "reply_for",
]
