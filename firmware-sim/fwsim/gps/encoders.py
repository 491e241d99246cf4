"""Per-terminal encoders: turn simulated fixes into the MQTT messages a real terminal publishes.

Each format has one encoder class with the same three methods (``login``, ``fix``, ``batch``);
``make_encoder`` picks one by name. Encoders keep the little state a real terminal keeps (the
JT/T 808 serial number) and do no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from fwsim.gps import jt808
from fwsim.gps.fix import SimFix
from fwsim.gps.gateway_json import encode_json, encode_json_batch, json_topic
from fwsim.gps.nmea import encode_nmea, nmea_topic
from fwsim.gps.owntracks import encode_owntracks, owntracks_topic

__all__ = [
    "FORMATS",
    "EncoderOptions",
    "JsonEncoder",
    "Jt808Encoder",
    "Message",
    "NmeaEncoder",
    "OwnTracksEncoder",
    "TerminalEncoder",
    "make_encoder",
]

FORMATS: Final = ("json", "owntracks", "nmea", "jt808", "jt808-hex")


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT publication: topic, payload, and how many fixes it carries (0 for a login)."""

    topic: str
    payload: bytes
    fixes: int
    kind: str  # "fix", "batch" or "login"


@dataclass(frozen=True, slots=True)
class EncoderOptions:
    """Format options; each encoder reads only its own.

    ``topic_prefix``: json/nmea/jt808 topics are ``<prefix>/<device_id>/<format>``.
    ``talker``: NMEA talker id. ``owntracks_user``/``owntracks_device`` (default: the device id),
    ``tid`` (default: last two characters of the device id), ``numbers_as_strings``: OwnTracks.
    ``register``: JT/T 808 terminal sends 0x0100 + 0x0102 at power-on; ``auth_code`` (default:
    the device id digits); ``signal``: 0x30 item value (omitted when ``None``);
    ``extra_status``: status bits OR-ed into every location.
    """

    topic_prefix: str = "devices"
    talker: str = "GP"
    owntracks_user: str = "guard"
    owntracks_device: str | None = None
    tid: str | None = None
    numbers_as_strings: bool = False
    register: bool = False
    auth_code: str | None = None
    signal: int | None = 25
    extra_status: int = 0


class TerminalEncoder(Protocol):
    """What the scenario runner needs from an encoder."""

    def login(self) -> list[Message]:
        """Messages sent once at power-on (before the first fix); usually none."""
        ...

    def fix(self, fix: SimFix) -> list[Message]:
        """Messages for one live fix."""
        ...

    def batch(self, fixes: Sequence[SimFix]) -> list[Message]:
        """Messages uploading fixes stored while offline, oldest first."""
        ...


class JsonEncoder:
    """Gateway JSON: one object per fix; stored fixes go up as one ``{"fixes": [...]}``."""

    def __init__(self, device_id: str, options: EncoderOptions) -> None:
        self.topic = json_topic(device_id, options.topic_prefix)

    def login(self) -> list[Message]:
        return []

    def fix(self, fix: SimFix) -> list[Message]:
        return [Message(self.topic, encode_json(fix), 1, "fix")]

    def batch(self, fixes: Sequence[SimFix]) -> list[Message]:
        if not fixes:
            return []
        return [Message(self.topic, encode_json_batch(fixes), len(fixes), "batch")]


class OwnTracksEncoder:
    """OwnTracks: one location per message; stored fixes are replayed one by one in order."""

    def __init__(self, device_id: str, options: EncoderOptions) -> None:
        self.topic = owntracks_topic(options.owntracks_user, options.owntracks_device or device_id)
        self.tid = options.tid or device_id[-2:]
        self.as_strings = options.numbers_as_strings

    def login(self) -> list[Message]:
        return []

    def fix(self, fix: SimFix) -> list[Message]:
        payload = encode_owntracks(fix, self.tid, numbers_as_strings=self.as_strings)
        return [Message(self.topic, payload, 1, "fix")]

    def batch(self, fixes: Sequence[SimFix]) -> list[Message]:
        return [Message(m.topic, m.payload, 1, "batch") for f in fixes for m in self.fix(f)]


class NmeaEncoder:
    """NMEA: an RMC + GGA pair per message; stored fixes are replayed one by one in order."""

    def __init__(self, device_id: str, options: EncoderOptions) -> None:
        self.topic = nmea_topic(device_id, options.topic_prefix)
        self.talker = options.talker

    def login(self) -> list[Message]:
        return []

    def fix(self, fix: SimFix) -> list[Message]:
        return [Message(self.topic, encode_nmea(fix, self.talker), 1, "fix")]

    def batch(self, fixes: Sequence[SimFix]) -> list[Message]:
        return [Message(self.topic, encode_nmea(f, self.talker), 1, "batch") for f in fixes]


class Jt808Encoder:
    """JT/T 808 frames on ``<prefix>/<id>/jt808``, as binary or (``hex_text``) lower-case hex.

    Live fixes are 0x0200; stored fixes are 0x0704 type 1 (blind-area re-upload), split into
    as many frames as the 1023-byte body limit needs. The serial number counts every frame.
    """

    def __init__(self, device_id: str, options: EncoderOptions, *, hex_text: bool) -> None:
        self.phone = jt808.bcd_phone(device_id)
        self.topic = f"{options.topic_prefix}/{device_id}/jt808"
        self.hex_text = hex_text
        self.options = options
        self.auth_code = options.auth_code or "".join(c for c in device_id if c.isdigit())
        self.serial = 0

    def _frame(self, msg_id: int, body: bytes) -> bytes:
        frame = jt808.build_frame(msg_id, self.phone, self.serial, body)
        self.serial = (self.serial + 1) & 0xFFFF
        return frame.hex().encode("ascii") if self.hex_text else frame

    def _location(self, fix: SimFix) -> jt808.LocationBody:
        return jt808.location_from_fix(
            fix, signal=self.options.signal, extra_status=self.options.extra_status
        )

    def login(self) -> list[Message]:
        if not self.options.register:
            return []
        reg = jt808.Registration(terminal_id=self.auth_code[-7:].rjust(7, "0"))
        return [
            Message(
                self.topic,
                self._frame(jt808.MSG_REGISTRATION, jt808.registration_body(reg)),
                0,
                "login",
            ),
            Message(
                self.topic,
                self._frame(jt808.MSG_AUTHENTICATION, jt808.authentication_body(self.auth_code)),
                0,
                "login",
            ),
        ]

    def fix(self, fix: SimFix) -> list[Message]:
        body = jt808.location_body(self._location(fix))
        return [Message(self.topic, self._frame(jt808.MSG_LOCATION, body), 1, "fix")]

    def batch(self, fixes: Sequence[SimFix]) -> list[Message]:
        messages: list[Message] = []
        chunk: list[jt808.LocationBody] = []
        size = 3  # count WORD + type BYTE
        for fix in fixes:
            loc = self._location(fix)
            item_size = 2 + len(jt808.location_body(loc))
            if chunk and size + item_size > jt808.MAX_BODY_LEN:
                messages.append(self._batch_message(chunk))
                chunk, size = [], 3
            chunk.append(loc)
            size += item_size
        if chunk:
            messages.append(self._batch_message(chunk))
        return messages

    def _batch_message(self, chunk: Sequence[jt808.LocationBody]) -> Message:
        body = jt808.batch_body(chunk, jt808.BATCH_BLIND_AREA)
        return Message(self.topic, self._frame(jt808.MSG_BATCH_LOCATION, body), len(chunk), "batch")


def make_encoder(
    fmt: str, device_id: str, options: EncoderOptions | None = None
) -> TerminalEncoder:
    """The encoder of format ``fmt`` (one of ``FORMATS``) for one terminal."""
    opts = options or EncoderOptions()
    if fmt == "json":
        return JsonEncoder(device_id, opts)
    if fmt == "owntracks":
        return OwnTracksEncoder(device_id, opts)
    if fmt == "nmea":
        return NmeaEncoder(device_id, opts)
    if fmt in ("jt808", "jt808-hex"):
        return Jt808Encoder(device_id, opts, hex_text=fmt == "jt808-hex")
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
