"""The alarm stage: an SOS is raised from every message of a known terminal, whatever happened
to its position.

It runs after the filters, over every fix of the batch (``ctx.fixes``, not only those identity
and the filters kept) and every alarm that came without a position (``ctx.alarms``), so that
neither an off-duty guard, nor a dropped position (stale, inaccurate, zero coordinates), nor a
missing GNSS fix can lose an alarm. Episodes and the position's quality are decided by
``gateway.rules.alarms``; this stage only looks up who the terminal belongs to and the best
position known. A terminal the site file does not know raises nothing (anyone could claim to
be it); its message is counted as dropped by identity already.

Every SOS message is recorded with the alert it raised or kept up (``gateway.db.sos_payloads``),
so a retained one the broker replays later is known and counted ``alarms.sos_replayed``
instead of raised again (``gateway.rules.alarms``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.clock import Clock
from gateway.db.sos_payloads import payload_digest, record_payload, seen_payload
from gateway.pipeline.context import BatchContext
from gateway.pipeline.emitter import Emitter
from gateway.pipeline.memory import PipelineMemory
from gateway.records import Alarm, AlarmSignal, PositionFix
from gateway.rules.alarms import SosObserved, SosPosition
from gateway.rules.events import ALERT_SOS

__all__ = ["AHEAD_AT_MOST", "STORED_AT_MOST", "Alarms"]

STORED_AT_MOST = timedelta(days=7)
"""The oldest an alarm's own time may be on arrival: a terminal stores a blind area's messages
for hours, days at most; older is a clock gone wrong, and the alarm is dated by its arrival."""
AHEAD_AT_MOST = timedelta(minutes=2)
"""How far ahead of its arrival an alarm's own time may be (the fix filters' tolerance)."""

_NO_OWN_POSITION = frozenset({"zero_coordinates", "invalid_coordinates"})
"""Filter verdicts that leave nothing of the message's own position worth showing."""


class Alarms:
    """Raises ``alert.sos`` once per emergency per terminal (see ``gateway.rules.alarms``)."""

    def __init__(self, memory: PipelineMemory, emitter: Emitter, clock: Clock) -> None:
        self._memory = memory
        self._emitter = emitter
        self._clock = clock

    def run(self, ctx: BatchContext) -> None:
        if not ctx.fixes and not ctx.alarms:
            return
        dropped = {id(fix): reason for fix, reason in ctx.filtered}
        judged = {id(item.fix) for item in ctx.on_duty} | dropped.keys()
        messages: list[tuple[datetime, PositionFix | AlarmSignal]] = [
            (fix.fix_time, fix) for fix in ctx.fixes
        ]
        messages += [(signal.alarm_time, signal) for signal in ctx.alarms]
        messages.sort(key=lambda item: item[0])
        for _, message in messages:
            if isinstance(message, PositionFix):
                if id(message) in judged:
                    position = self._fix_position(message, dropped.get(id(message)))
                else:  # off duty: the filters never judged it
                    position = SosPosition(
                        "fix_unchecked",
                        message.lat,
                        message.lon,
                        message.accuracy_m,
                        message.fix_time,
                    )
                self._message(ctx, message, position)
            else:
                if Alarm.SOS not in message.alarms:
                    for alarm in sorted(message.alarms):
                        ctx.counters.add(f"alarms.without_position.{alarm.value}")
                self._message(ctx, message, self._signal_position(message))

    def _message(
        self, ctx: BatchContext, message: PositionFix | AlarmSignal, position: SosPosition
    ) -> None:
        duties = self._memory.duties
        device_id = message.device_id
        if not duties.knows_device(device_id):
            return
        at = message.fix_time if isinstance(message, PositionFix) else message.alarm_time
        if not message.received_at - STORED_AT_MOST <= at <= message.received_at + AHEAD_AT_MOST:
            # A clock reset by a reboot (2000-01-01) or a GPS week rollover (19.6 years back),
            # or running ahead: dated by its arrival, so it is his duty's and leads the list.
            ctx.counters.add("alarms.clock_implausible")
            at = message.received_at
        sos = Alarm.SOS in message.alarms
        if not sos and not self._memory.sos.active(device_id):
            return
        guard_id = duties.guard_of_device(device_id)
        digest = payload_digest(message.raw) if sos else None
        if digest is not None and message.retained:
            self._emitter.flush(ctx)  # an SOS taken earlier in this batch is recorded too
            subjects = {device_id} if guard_id is None else {guard_id, device_id}
            if seen_payload(ctx.session, ALERT_SOS, subjects, device_id, digest):
                ctx.counters.add("alarms.sos_replayed")
                return
        duty = duties.duty_for_device(device_id, at)
        observed = SosObserved(
            device_id=device_id,
            at=at,
            received_at=message.received_at,
            sos=sos,
            position=position,
            guard_id=guard_id,
            shift_id=None if duty is None else duty.shift_id,
            post_id=None if duty is None else duty.post_id,
            site_id=duties.site_of_device(device_id),
            raw=message.raw,
        )
        policy = duties.policy_for_device(device_id)
        episodes = self._memory.sos_for_change()
        events = episodes.observe(observed, self._clock.now(), policy)
        for event in events:
            ctx.counters.add("alarms.sos")
            self._emitter.emit(ctx, event, subject=guard_id or device_id, duty=duty)
        if digest is not None:
            # The alert this message raised, or the one of the emergency it belongs to.
            alert_key = events[0].alert_key if events else episodes.alert_key(device_id)
            if alert_key is not None:
                self._emitter.flush(ctx)
                record_payload(ctx.session, alert_key, digest)

    def _fix_position(self, fix: PositionFix, dropped_because: str | None) -> SosPosition:
        if dropped_because is None:
            return SosPosition("fix", fix.lat, fix.lon, fix.accuracy_m, fix.fix_time)
        if dropped_because in _NO_OWN_POSITION:
            last = self._last_accepted(fix.device_id)
            return SosPosition(
                last.quality,
                last.lat,
                last.lon,
                last.accuracy_m,
                last.time,
                dropped_because=dropped_because,
            )
        return SosPosition(
            "fix_dropped",
            fix.lat,
            fix.lon,
            fix.accuracy_m,
            fix.fix_time,
            dropped_because=dropped_because,
        )

    def _signal_position(self, signal: AlarmSignal) -> SosPosition:
        if signal.lat is not None and signal.lon is not None:
            return SosPosition("terminal_last_known", signal.lat, signal.lon)
        return self._last_accepted(signal.device_id)

    def _last_accepted(self, device_id: str) -> SosPosition:
        guard_id = self._memory.duties.guard_of_device(device_id)
        last = None if guard_id is None else self._memory.last_fix.get(guard_id)
        if last is None:
            return SosPosition("none")
        return SosPosition("last_accepted", last.lat, last.lon, last.accuracy_m, last.fix_time)
