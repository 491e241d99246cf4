"""NMEA 0183 payloads (``devices/<device_id>/nmea``): one or more sentences, CR/LF or LF.

Sentence rules are in :mod:`drivers.gps.nmea_sentence`. This module turns a stream of sentences
into fixes:

* RMC and GGA of the same epoch (same time of day, consecutive in the payload) merge into one
  fix: position, date, speed (knots to m/s) and course from RMC; satellites, altitude and HDOP
  from GGA. Epochs are merged within one payload only; a terminal that splits an epoch across
  two MQTT messages produces two fixes with the same time, which the duplicate filter drops.
* A GGA has no date. It takes the date of the last valid RMC seen for that device, else the UTC
  date of ``received_at``; of that day and its neighbours the one that puts the fix closest to
  the reference is used, so a GGA at 23:59:59 received at 00:00:01 is dated the day before.
  This small per-device state is why one decoder instance serves one ingest stream.
* ``accuracy_m`` is estimated as ``HDOP x 5 m`` (:data:`UERE_M`, a typical 1-sigma user
  equivalent range error of a single-frequency consumer receiver; HDOP 1 in open sky gives 5 m,
  HDOP 2-2.5 in a city street 10-13 m, matching field experience). Without GGA it is unknown.
* "No fix" sentences (RMC status V, GGA quality 0, empty fields), sentences with a missing or
  wrong checksum, and garbage lines are each rejected with the reason; other sentence types
  (GSV, GSA, VTG, ZDA, TXT, proprietary...) are ignored silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from drivers.gps.base import check_position
from drivers.gps.nmea_sentence import (
    GgaData,
    RmcData,
    parse_gga,
    parse_rmc,
    parse_sentence,
)
from gateway.clock import utc
from gateway.errors import DecodeError
from gateway.records import DecodeOutcome, PositionFix, Rejected

__all__ = ["UERE_M", "NmeaCodec"]

logger = logging.getLogger(__name__)

FORMAT_NAME = "nmea"
UERE_M = 5.0
"""Metres of horizontal 1-sigma error per unit of HDOP."""


@dataclass
class _Epoch:
    time_of_day: time
    rmc: RmcData | None = None
    gga: GgaData | None = None
    lines: list[str] = field(default_factory=list)


def _nearest_date(time_of_day: time, reference: datetime) -> datetime:
    """The datetime with ``time_of_day`` on the day around ``reference`` closest to it."""
    candidates = [
        datetime.combine(reference.date() + timedelta(days=d), time_of_day, tzinfo=UTC)
        for d in (-1, 0, 1)
    ]
    return min(candidates, key=lambda c: abs(c - reference))


class NmeaCodec:
    """Stateful NMEA decoder: remembers each device's last RMC date for dating GGA."""

    format_name = FORMAT_NAME

    def __init__(self) -> None:
        self._last_rmc: dict[str, datetime] = {}

    def decode(
        self, payload: bytes, received_at: datetime, device_hint: str | None = None
    ) -> DecodeOutcome:
        received = utc(received_at)
        if not device_hint:
            return DecodeOutcome(
                rejects=(Rejected("no device id: NMEA needs the topic's device id", payload),)
            )
        device = device_hint
        if not payload.strip():
            # An empty publish is a terminal fault like any other: counted, as in every format.
            return DecodeOutcome(rejects=(Rejected("empty payload", payload, device),))
        fixes: list[PositionFix] = []
        rejects: list[Rejected] = []
        pending: _Epoch | None = None

        def flush() -> None:
            nonlocal pending
            if pending is not None:
                outcome = self._fix(pending, device, received)
                if isinstance(outcome, PositionFix):
                    fixes.append(outcome)
                else:
                    rejects.append(outcome)
                pending = None

        for raw_line in payload.splitlines():
            if not raw_line.strip():
                continue
            try:
                line = raw_line.decode("ascii")
                sentence = parse_sentence(line)
            except (UnicodeDecodeError, DecodeError) as exc:
                reason = exc.reason if isinstance(exc, DecodeError) else "not ASCII text"
                rejects.append(Rejected(reason, raw_line.strip(), device))
                continue
            if sentence.kind not in ("RMC", "GGA") or sentence.talker == "P":
                continue
            try:
                data: RmcData | GgaData = (
                    parse_rmc(sentence) if sentence.kind == "RMC" else parse_gga(sentence)
                )
            except DecodeError as exc:
                rejects.append(Rejected(exc.reason, sentence.text.encode("ascii"), device))
                continue
            if pending is not None and pending.time_of_day != data.time_of_day:
                flush()
            if pending is None:
                pending = _Epoch(data.time_of_day)
            slot_taken = pending.rmc if isinstance(data, RmcData) else pending.gga
            if slot_taken is not None:
                # Same time, same sentence twice (two talkers, or a repeat): new epoch.
                flush()
                pending = _Epoch(data.time_of_day)
            if isinstance(data, RmcData):
                pending.rmc = data
                self._last_rmc[device] = datetime.combine(data.day, data.time_of_day, tzinfo=UTC)
            else:
                pending.gga = data
            pending.lines.append(sentence.text)
        flush()
        return DecodeOutcome(tuple(fixes), tuple(rejects))

    def _fix(self, epoch: _Epoch, device: str, received: datetime) -> PositionFix | Rejected:
        raw = "\n".join(epoch.lines)
        rmc, gga = epoch.rmc, epoch.gga
        if rmc is not None:
            fix_time = datetime.combine(rmc.day, rmc.time_of_day, tzinfo=UTC)
            lat, lon = rmc.lat, rmc.lon
        else:
            assert gga is not None
            reference = self._last_rmc.get(device, received)
            fix_time = _nearest_date(gga.time_of_day, reference)
            lat, lon = gga.lat, gga.lon
        problem = check_position(lat, lon)
        if problem:
            return Rejected(problem, raw.encode("ascii"), device)
        hdop = gga.hdop if gga is not None else None
        return PositionFix(
            device_id=device,
            fix_time=fix_time,
            received_at=received,
            lat=lat,
            lon=lon,
            accuracy_m=hdop * UERE_M if hdop is not None and hdop > 0 else None,
            speed_mps=rmc.speed_mps if rmc is not None else None,
            course_deg=rmc.course_deg if rmc is not None else None,
            altitude_m=gga.altitude_m if gga is not None else None,
            satellites=gga.satellites if gga is not None else None,
            source_format=FORMAT_NAME,
            raw=raw,
        )
