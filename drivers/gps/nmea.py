"""NMEA 0183 payloads (``devices/<device_id>/nmea``): one or more sentences, CR/LF or LF.

Sentence rules are in :mod:`drivers.gps.nmea_sentence`. This module turns a stream of sentences
into fixes:

* RMC, GGA and GNS of the same epoch (same time of day, consecutive in the payload) merge into
  one fix: date, position, speed (knots to m/s) and course from RMC; satellites, altitude and
  HDOP from GNS, else GGA (GNS counts the satellites of every constellation, a GGA often only
  GPS's). Receivers that print one sentence per constellation in the same epoch (``GPRMC`` and
  ``GARMC``, ``GPGGA`` and ``GAGGA``) give one fix; the ``GN`` (combined) sentence is preferred,
  else the first. The same sentence twice from the same talker starts a new epoch (a repeat),
  as does an RMC of another date. Epochs are merged within one payload only; a terminal that
  splits an epoch across two MQTT messages produces two fixes with the same time, which the
  duplicate filter drops.
* GGA and GNS carry no date. An epoch without an RMC takes the date of **that terminal's latest
  valid RMC** (this payload's or an earlier one's): of that day and its neighbours, the one that
  puts the fix closest to the RMC, so a GGA at 00:00:03 after an RMC at 23:59:58 is dated the
  next day. Without any RMC from the terminal the fix is rejected (``GGA without a date: ...``):
  the gateway's clock is never used, since a replayed or stored log would get today's date.
  This small per-device state is why one decoder instance serves one ingest stream; after a
  restart a terminal's first GGA-only epochs are rejected until its next RMC.
* The device is the topic's. A tracker that writes its id before ``$`` names itself: with a
  topic the two must agree (a terminal may speak only for itself: ``device id mismatch:
  sentence names 'X', topic names 'Y'`` is rejected, counted under the topic's device);
  without a topic (a file given to ``guard-gateway decode``) the id names the device, else
  ``fallback_device``.
* ``accuracy_m`` is estimated as ``HDOP x 5 m`` (:data:`UERE_M`, a typical 1-sigma user
  equivalent range error of a single-frequency consumer receiver; HDOP 1 in open sky gives 5 m,
  HDOP 2-2.5 in a city street 10-13 m, matching field experience). Without GGA/GNS it is
  unknown.
* "No fix" sentences (RMC status V, GGA quality 0, GNS modes all N, empty fields), sentences
  with a missing or wrong checksum, and garbage lines are each rejected with the reason; other
  sentence types (GSV, GSA, VTG, ZDA, TXT, proprietary...) are ignored silently.
* Positions that are no measurement are rejected under their own reasons (the rules are in
  :mod:`drivers.gps.nmea_sentence`): ``simulated fix`` (mode ``S``, GGA quality 8, from RMC,
  GGA, GNS, GLL or VTG), ``estimated position`` (dead reckoning: mode ``E``, quality 6) and
  ``manual position``. A simulated sentence also condemns its epoch: the epoch's other
  sentences give no fix but one more ``simulated fix`` reject, so a fake-GPS stream that
  marks only one sentence of each epoch places nobody. The stream goes on with the next epoch.
  NMEA carries no alarm, so no SOS is lost with these rejects (the codecs that carry alarms
  keep them beside a rejected position: see :class:`~gateway.records.AlarmSignal`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TypeVar

from drivers.gps.base import NMEA_PAYLOAD_LIMIT, check_position, check_size, identity_mismatch
from drivers.gps.nmea_sentence import (
    GgaData,
    RmcData,
    Sentence,
    SimulatedFix,
    parse_gga,
    parse_gns,
    parse_rmc,
    parse_sentence,
    refuse_simulator,
    time_field,
)
from gateway.clock import utc
from gateway.errors import DecodeError
from gateway.records import DecodeOutcome, PositionFix, Rejected

__all__ = ["UERE_M", "NmeaCodec"]

logger = logging.getLogger(__name__)

FORMAT_NAME = "nmea"
UERE_M = 5.0
"""Metres of horizontal 1-sigma error per unit of HDOP."""

_PARSERS: dict[str, Callable[[Sentence], RmcData | GgaData]] = {
    "RMC": parse_rmc,
    "GGA": parse_gga,
    "GNS": parse_gns,
}
_COMBINED_TALKER = "GN"
_T = TypeVar("_T")


@dataclass
class _Slot:
    """One kind of sentence kept for an epoch, and the talkers that sent that kind."""

    data: RmcData | GgaData
    talker: str
    talkers: set[str] = field(default_factory=set)


@dataclass
class _Epoch:
    device: str
    time_of_day: time
    slots: dict[str, _Slot] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def accepts(self, device: str, kind: str, talker: str, data: RmcData | GgaData) -> bool:
        """Whether the sentence belongs to this epoch (module docstring)."""
        if (device, data.time_of_day) != (self.device, self.time_of_day):
            return False
        slot = self.slots.get(kind)
        if slot is None:
            return True
        if talker in slot.talkers:
            return False  # the same sentence again: a repeat, or a stored log's next day
        held = slot.data
        other_day = isinstance(held, RmcData) and isinstance(data, RmcData) and held.day != data.day
        return not other_day

    def add(self, kind: str, talker: str, data: RmcData | GgaData, text: str) -> None:
        slot = self.slots.get(kind)
        if slot is None:
            self.slots[kind] = _Slot(data, talker, {talker})
        else:
            slot.talkers.add(talker)
            if talker == _COMBINED_TALKER and slot.talker != _COMBINED_TALKER:
                slot.data, slot.talker = data, talker
        self.lines.append(text)

    def rmc(self) -> RmcData | None:
        slot = self.slots.get("RMC")
        return slot.data if slot is not None and isinstance(slot.data, RmcData) else None

    def fix_data(self) -> list[GgaData]:
        """GNS then GGA: where satellites, HDOP and altitude are read, in that order."""
        found = [self.slots.get("GNS"), self.slots.get("GGA")]
        return [s.data for s in found if s is not None and isinstance(s.data, GgaData)]


def _nearest_date(time_of_day: time, reference: datetime) -> datetime:
    """The datetime with ``time_of_day`` on the day around ``reference`` closest to it."""
    candidates = [
        datetime.combine(reference.date() + timedelta(days=d), time_of_day, tzinfo=UTC)
        for d in (-1, 0, 1)
    ]
    return min(candidates, key=lambda c: abs(c - reference))


def _first(values: list[_T | None]) -> _T | None:
    return next((v for v in values if v is not None), None)


class NmeaCodec:
    """Stateful NMEA decoder: remembers each device's last RMC date for dating GGA and GNS.

    ``fallback_device`` names the device when neither a topic nor an id before ``$`` does (the
    ``decode`` command reading a receiver log); the gateway leaves it ``None``, so such input is
    rejected. ``max_payload_bytes`` refuses larger payloads whole (``None``: no limit, for a
    whole receiver log read from a file).
    """

    format_name = FORMAT_NAME

    def __init__(
        self,
        fallback_device: str | None = None,
        *,
        max_payload_bytes: int | None = NMEA_PAYLOAD_LIMIT,
    ) -> None:
        self._fallback = fallback_device
        self._max_payload = max_payload_bytes
        self._last_rmc: dict[str, datetime] = {}

    def decode(
        self, payload: bytes, received_at: datetime, device_hint: str | None = None
    ) -> DecodeOutcome:
        received = utc(received_at)
        topic_device = device_hint or None
        default_device = topic_device or self._fallback
        # A C-string terminal publishes its buffer with the terminating NUL(s), as for JSON.
        payload = payload.rstrip(b"\x00")
        if not payload.strip():
            # An empty publish is a terminal fault like any other: counted, as in every format.
            return DecodeOutcome(rejects=(Rejected("empty payload", payload, default_device),))
        limit = self._max_payload
        too_large = check_size(payload, limit) if limit is not None else None
        if too_large:
            return DecodeOutcome(rejects=(Rejected(too_large, payload, default_device),))
        fixes: list[PositionFix] = []
        rejects: list[Rejected] = []
        pending: _Epoch | None = None
        simulated: set[tuple[str, time]] = set()  # (device, time of day) of condemned epochs
        latest_time: dict[str, time] = {}  # device → time of its latest timed sentence

        def flush() -> None:
            nonlocal pending
            if pending is not None:
                outcome = self._fix(pending, received, simulated)
                if isinstance(outcome, PositionFix):
                    fixes.append(outcome)
                else:
                    rejects.append(outcome)
                pending = None

        for raw_line in payload.splitlines():
            if not raw_line.strip():
                continue
            try:
                sentence = parse_sentence(raw_line.decode("ascii"))
            except (UnicodeDecodeError, DecodeError) as exc:
                reason = exc.reason if isinstance(exc, DecodeError) else "not ASCII text"
                rejects.append(Rejected(reason, raw_line.strip(), default_device))
                continue
            raw = sentence.text.encode("ascii")
            prefix = sentence.device_prefix
            if prefix and topic_device and prefix != topic_device:
                reason = identity_mismatch(prefix, topic_device, "sentence")
                rejects.append(Rejected(reason, raw, topic_device))
                continue
            parser = _PARSERS.get(sentence.kind)
            if sentence.talker == "P":
                continue
            device = topic_device or prefix or self._fallback
            stated = time_field(sentence)
            if stated is not None and device:
                latest_time[device] = stated
            try:
                if parser is None:
                    refuse_simulator(sentence)  # GLL, VTG: read only for their mode
                    continue
                if not device:
                    reason = "no device id: NMEA needs the topic's device id or an id before '$'"
                    rejects.append(Rejected(reason, raw))
                    continue
                data = parser(sentence)
            except DecodeError as exc:
                rejects.append(Rejected(exc.reason, raw, device))
                if isinstance(exc, SimulatedFix) and device:
                    # A VTG has no time: it belongs to the epoch its device's last timed
                    # sentence opened (receivers print it after that epoch's RMC).
                    when = exc.time_of_day
                    if when is None:
                        when = latest_time.get(device)
                    if when is not None:
                        simulated.add((device, when))
                continue
            if pending is not None and not pending.accepts(
                device, sentence.kind, sentence.talker, data
            ):
                flush()
            if pending is None:
                pending = _Epoch(device, data.time_of_day)
            pending.add(sentence.kind, sentence.talker, data, sentence.text)
            if isinstance(data, RmcData):
                self._last_rmc[device] = datetime.combine(data.day, data.time_of_day, tzinfo=UTC)
        flush()
        return DecodeOutcome(tuple(fixes), tuple(rejects))

    def _fix(
        self, epoch: _Epoch, received: datetime, simulated: set[tuple[str, time]]
    ) -> PositionFix | Rejected:
        raw = "\n".join(epoch.lines)
        device = epoch.device
        if (device, epoch.time_of_day) in simulated:
            reason = "simulated fix: another sentence of this epoch is from a simulator"
            return Rejected(reason, raw.encode("ascii"), device)
        rmc, extra = epoch.rmc(), epoch.fix_data()
        if rmc is not None:
            fix_time = datetime.combine(rmc.day, rmc.time_of_day, tzinfo=UTC)
            lat, lon = rmc.lat, rmc.lon
        else:
            only = extra[0]
            last_rmc = self._last_rmc.get(device)
            if last_rmc is None:
                reason = f"{only.kind} without a date: no RMC from this terminal yet"
                return Rejected(reason, raw.encode("ascii"), device)
            fix_time = _nearest_date(only.time_of_day, last_rmc)
            lat, lon = only.lat, only.lon
        problem = check_position(lat, lon)
        if problem:
            return Rejected(problem, raw.encode("ascii"), device)
        hdop = _first([d.hdop for d in extra])
        return PositionFix(
            device_id=device,
            fix_time=fix_time,
            received_at=received,
            lat=lat,
            lon=lon,
            accuracy_m=hdop * UERE_M if hdop is not None and hdop > 0 else None,
            speed_mps=rmc.speed_mps if rmc is not None else None,
            course_deg=rmc.course_deg if rmc is not None else None,
            altitude_m=_first([d.altitude_m for d in extra]),
            satellites=_first([d.satellites for d in extra]),
            source_format=FORMAT_NAME,
            raw=raw,
        )
