"""Per-terminal encoders: turn simulated fixes into the MQTT messages a real terminal publishes.

Each format has one encoder class with the same three methods (``login``, ``fix``, ``batch``);
``make_encoder`` picks one by name. Encoders keep the little state a real terminal keeps (the
JT/T 808 serial number) and do no I/O.

A fix without a position (``SimFix.located`` false: an SOS pressed indoors) goes up only in
the formats that can carry an alarm: gateway JSON (no position fields) and JT/T 808 (status
bit 1 clear). NMEA and OwnTracks have no alarm field, so their terminals send nothing for it.

A JT/T 808 terminal with ``register`` logs in at power-on, driven by the platform's replies:
its ``login`` message is the 0x0100 registration, with a :class:`LoginPlan` saying where the
replies come and which serial numbers the rest of the exchange uses (the scenario runner plays
it, see ``fwsim.scenario.login``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from fwsim.gps import jt808
from fwsim.gps.emqx import emqx_topic, encode_emqx
from fwsim.gps.fix import SimFix
from fwsim.gps.gateway_json import encode_json, encode_json_batch, json_topic
from fwsim.gps.nmea import encode_nmea, nmea_topic
from fwsim.gps.owntracks import encode_owntracks, owntracks_topic

__all__ = [
    "FORMATS",
    "LOGIN_SERIALS",
    "EmqxEncoder",
    "EncoderOptions",
    "JsonEncoder",
    "Jt808Encoder",
    "LoginPlan",
    "Message",
    "NmeaEncoder",
    "OwnTracksEncoder",
    "TerminalEncoder",
    "make_encoder",
]

FORMATS: Final = ("json", "owntracks", "nmea", "jt808", "jt808-hex", "jt808-emqx")

LOGIN_SERIALS: Final = 3
"""Serial numbers a log-in keeps after its registration: the 0x0102, and a new 0x0100 and
0x0102 should the platform refuse the code once."""


@dataclass(frozen=True, slots=True)
class LoginPlan:
    """The rest of a JT/T 808 log-in its ``login`` message (the 0x0100) opened.

    ``downlink_topic`` is where the platform's replies come (``<prefix>/<id>/jt808/down``);
    ``phone_bcd`` the terminal's header phone field (replies naming another are not for it);
    ``serials`` the serial numbers kept, in the terminal's own numbering, for the frames it may
    still send (``LOGIN_SERIALS`` of them); ``registration`` what a new 0x0100 says;
    ``hex_text`` whether its frames go up as hex text.
    """

    downlink_topic: str
    phone_bcd: bytes
    serials: tuple[int, ...]
    registration: jt808.Registration
    hex_text: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT publication: topic, payload, and how many fixes it carries (0 for a login or
    an alarm without a fix). ``login`` is set on a log-in the platform's replies drive."""

    topic: str
    payload: bytes
    fixes: int
    kind: str  # "fix", "batch", "alarm" (no position) or "login"
    login: LoginPlan | None = None


@dataclass(frozen=True, slots=True)
class EncoderOptions:
    """Format options; each encoder reads only its own.

    ``topic_prefix``: json/nmea/jt808 topics are ``<prefix>/<device_id>/<format>``.
    ``talker``: NMEA talker id. ``owntracks_user``/``owntracks_device`` (default: the device id),
    ``tid`` (default: last two characters of the device id), ``numbers_as_strings``: OwnTracks.
    ``register``: a JT/T 808 terminal logs in at power-on (0x0100, then 0x0102 with the code
    the platform's 0x8100 gave it) before it reports; ``signal``: 0x30 item value (omitted when
    ``None``); ``extra_status``: status bits OR-ed into every location.
    """

    topic_prefix: str = "devices"
    talker: str = "GP"
    owntracks_user: str = "guard"
    owntracks_device: str | None = None
    tid: str | None = None
    numbers_as_strings: bool = False
    register: bool = False
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
        if not fix.located:
            return [Message(self.topic, encode_json(fix), 0, "alarm")]
        return [Message(self.topic, encode_json(fix), 1, "fix")]

    def batch(self, fixes: Sequence[SimFix]) -> list[Message]:
        if not fixes:
            return []
        located = sum(1 for f in fixes if f.located)
        return [Message(self.topic, encode_json_batch(fixes), located, "batch")]


class OwnTracksEncoder:
    """OwnTracks: one location per message; stored fixes are replayed one by one in order."""

    def __init__(self, device_id: str, options: EncoderOptions) -> None:
        self.topic = owntracks_topic(options.owntracks_user, options.owntracks_device or device_id)
        self.tid = options.tid or device_id[-2:]
        self.as_strings = options.numbers_as_strings

    def login(self) -> list[Message]:
        return []

    def fix(self, fix: SimFix) -> list[Message]:
        if not fix.located:
            return []
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
        if not fix.located:
            return []
        return [Message(self.topic, encode_nmea(fix, self.talker), 1, "fix")]

    def batch(self, fixes: Sequence[SimFix]) -> list[Message]:
        return [
            Message(self.topic, encode_nmea(f, self.talker), 1, "batch") for f in fixes if f.located
        ]


class Jt808Encoder:
    """JT/T 808 frames on ``<prefix>/<id>/jt808``, as binary or (``hex_text``) lower-case hex.

    Live fixes are 0x0200; stored fixes are 0x0704 type 1 (blind-area re-upload), split into
    as many frames as the 1023-byte body limit needs. The serial number counts every frame,
    and every log-in keeps ``LOGIN_SERIALS`` more for the frames its replies call for.
    """

    def __init__(self, device_id: str, options: EncoderOptions, *, hex_text: bool) -> None:
        self.phone = jt808.bcd_phone(device_id)
        self.topic = f"{options.topic_prefix}/{device_id}/jt808"
        self.hex_text = hex_text
        self.options = options
        self.downlink_topic = f"{self.topic}/down"
        digits = "".join(c for c in device_id if c.isdigit())
        self.registration = jt808.Registration(terminal_id=digits[-7:].rjust(7, "0"))
        self.serial = 0

    def _next_serial(self) -> int:
        serial = self.serial
        self.serial = (self.serial + 1) & 0xFFFF
        return serial

    def _frame(self, msg_id: int, body: bytes) -> bytes:
        frame = jt808.build_frame(msg_id, self.phone, self._next_serial(), body)
        return frame.hex().encode("ascii") if self.hex_text else frame

    def _location(self, fix: SimFix) -> jt808.LocationBody:
        return jt808.location_from_fix(
            fix, signal=self.options.signal, extra_status=self.options.extra_status
        )

    def login(self) -> list[Message]:
        """The 0x0100 registration, carrying the plan of the exchange that follows it."""
        if not self.options.register:
            return []
        body = jt808.registration_body(self.registration)
        frame = self._frame(jt808.MSG_REGISTRATION, body)
        plan = LoginPlan(
            downlink_topic=self.downlink_topic,
            phone_bcd=self.phone,
            serials=tuple(self._next_serial() for _ in range(LOGIN_SERIALS)),
            registration=self.registration,
            hex_text=self.hex_text,
        )
        return [Message(self.topic, frame, 0, "login", plan)]

    def fix(self, fix: SimFix) -> list[Message]:
        body = jt808.location_body(self._location(fix))
        frame = self._frame(jt808.MSG_LOCATION, body)
        if not fix.located:
            return [Message(self.topic, frame, 0, "alarm")]
        return [Message(self.topic, frame, 1, "fix")]

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
        located = sum(1 for loc in chunk if loc.status & jt808.STATUS_LOCATED)
        return Message(self.topic, self._frame(jt808.MSG_BATCH_LOCATION, body), located, "batch")


class EmqxEncoder:
    """EMQX's JT/T 808 bridge JSON on ``jt808/<phone>/<phone>/up`` (``fwsim.gps.emqx``): live
    fixes as 0x0200, stored fixes as one 0x0704 type 1 (blind-area re-upload) per 1000 items;
    no log-in (EMQX answers the terminal itself). ``msg_sn`` counts every message."""

    BATCH_ITEMS = 1000

    def __init__(self, device_id: str, options: EncoderOptions) -> None:
        self.device_id = device_id
        self.topic = emqx_topic(device_id)
        self.options = options
        self.serial = 0

    def _encode(self, fixes: Sequence[SimFix], *, batch: bool) -> bytes:
        payload = encode_emqx(
            self.device_id,
            self.serial,
            fixes,
            batch=batch,
            signal=self.options.signal,
            extra_status=self.options.extra_status,
        )
        self.serial = (self.serial + 1) & 0xFFFF
        return payload

    def login(self) -> list[Message]:
        return []

    def fix(self, fix: SimFix) -> list[Message]:
        payload = self._encode([fix], batch=False)
        if not fix.located:
            return [Message(self.topic, payload, 0, "alarm")]
        return [Message(self.topic, payload, 1, "fix")]

    def batch(self, fixes: Sequence[SimFix]) -> list[Message]:
        out: list[Message] = []
        for i in range(0, len(fixes), self.BATCH_ITEMS):
            chunk = fixes[i : i + self.BATCH_ITEMS]
            located = sum(1 for f in chunk if f.located)
            out.append(Message(self.topic, self._encode(chunk, batch=True), located, "batch"))
        return out


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
    if fmt == "jt808-emqx":
        return EmqxEncoder(device_id, opts)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
