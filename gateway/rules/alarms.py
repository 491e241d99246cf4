"""SOS from any message of a terminal: one ``alert.sos`` per emergency, whatever its position.

An SOS is never lost (DOMAIN.md): not for a missing GNSS fix (indoors), not because a filter
drops the position it came with (stale, poor accuracy, zero coordinates), not because it arrives
out of device-time order, not because the guard is off duty. Filters may drop a position, never
an alarm; so SOS is decided here, apart from the presence machine, on every message of a
terminal the gateway knows, before any filter.

Episodes, per device, in device time: an SOS message starts an emergency unless it belongs to
the device's current one, which it does when it is no more than ``sos_episode_gap_s`` before its
start or after its last SOS, with no message without SOS after that last SOS. A message without
SOS, newer than the episode's last SOS, ends it. One alert per episode, keyed by the device and
the episode's first SOS, so a replay raises nothing new. An SOS is never resolved by the rules:
a person must deal with it.

A broker replays a retained SOS at each new subscription (each gateway restart or reconnection),
after the episode ended and maybe after its alert was resolved; one without a device time of
its own is dated by its arrival, so its key would be new each time. A message handed over as
retained is a replay when its payload is byte for byte that of an SOS message an alert of the
device was raised or kept up by (``gateway.db.sos_payloads``): it raises nothing and is counted
``alarms.sos_replayed``. The retain flag alone decides nothing, since a broker may also set it
on a persistent session's queued messages (amqtt does): a queued, new SOS differs from every
earlier one (its own time, position or battery) and is raised. Only a terminal without a clock
whose SOS repeats the very same bytes after an earlier one was taken, queued by such a broker,
would be taken for a replay.

The best position known goes with the alert, with ``position.quality`` saying how good it is:
``fix`` (this message's own position, accepted), ``fix_dropped`` (its own position, dropped by a
filter: ``position.dropped_because`` says why), ``fix_unchecked`` (its own position, off duty,
where no filter judges positions), ``terminal_last_known`` (a position the terminal
put in a message that had no fix), ``last_accepted`` (the device's last accepted fix, with its
age) or ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from gateway.clock import utc
from gateway.policy import SitePolicy

from .entries import iso
from .events import ALERT_SOS, BACKFILL_AFTER_S, Json, RuleEvent

__all__ = ["SosEpisodes", "SosObserved", "SosPosition"]


@dataclass(frozen=True, slots=True)
class SosPosition:
    """The best position known when an SOS came, and how good it is (see the module)."""

    quality: str
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    time: datetime | None = None
    dropped_because: str | None = None

    def to_json(self, now: datetime) -> dict[str, Json]:
        age = None if self.time is None else round((now - self.time).total_seconds(), 1)
        return {
            "quality": self.quality,
            "lat": self.lat,
            "lon": self.lon,
            "accuracy_m": self.accuracy_m,
            "time": None if self.time is None else iso(self.time),
            "age_s": age,
            "dropped_because": self.dropped_because,
        }


@dataclass(frozen=True, slots=True)
class SosObserved:
    """One message of a terminal, as far as alarms go: its device time and whether it had SOS.

    ``guard_id`` is the guard the device is bound to (``None`` for an unbound one: the alert's
    subject is then the device); ``duty`` fields are set when he is on duty.
    """

    device_id: str
    at: datetime
    received_at: datetime
    sos: bool
    position: SosPosition = field(default_factory=lambda: SosPosition("none"))
    guard_id: str | None = None
    shift_id: str | None = None
    post_id: str | None = None
    site_id: str | None = None
    raw: str = ""


@dataclass(frozen=True, slots=True)
class _Episode:
    started_at: datetime
    last_sos_at: datetime
    alert_key: str


class SosEpisodes:
    """The current SOS episode of each device; ``observe`` returns the alerts to raise.

    Kept in memory and re-seeded from the SOS alerts still open (``seed``) when the pipeline
    reloads, so a restart during an emergency does not raise it again; a replayed first SOS has
    the same key anyway, which the outbox and the alerts table take once.
    """

    def __init__(self) -> None:
        self._episodes: dict[str, _Episode] = {}

    def seed(self, device_id: str, started_at: datetime, alert_key: str) -> None:
        """An emergency of ``device_id`` begun at ``started_at`` is still open (its alert is
        ``alert_key``)."""
        at = utc(started_at)
        known = self._episodes.get(device_id)
        if known is None or known.last_sos_at < at:
            self._episodes[device_id] = _Episode(at, at, alert_key)

    def carry_over(self, previous: SosEpisodes) -> None:
        """Keep what ``previous`` (the episodes before a reload) knew of the episodes seeded
        here: an open alert only tells when its emergency began, not when the button was last
        pressed, and a press within the gap of that last one still belongs to the emergency."""
        for device_id, seeded in self._episodes.items():
            known = previous._episodes.get(device_id)
            if known is not None and known.started_at <= seeded.started_at <= known.last_sos_at:
                self._episodes[device_id] = known

    def active(self, device_id: str) -> bool:
        """Whether the device has an emergency under way (a message without SOS may end it)."""
        return device_id in self._episodes

    def alert_key(self, device_id: str) -> str | None:
        """The alert of the device's emergency under way, if any."""
        episode = self._episodes.get(device_id)
        return None if episode is None else episode.alert_key

    def observe(self, message: SosObserved, now: datetime, policy: SitePolicy) -> list[RuleEvent]:
        at = utc(message.at)
        episode = self._episodes.get(message.device_id)
        gap = timedelta(seconds=policy.sos_episode_gap_s)
        if not message.sos:
            if episode is not None and at > episode.last_sos_at:
                del self._episodes[message.device_id]
            return []
        if episode is not None and episode.started_at - gap <= at <= episode.last_sos_at + gap:
            self._episodes[message.device_id] = replace(
                episode,
                started_at=min(episode.started_at, at),
                last_sos_at=max(episode.last_sos_at, at),
            )
            return []
        event = _sos_event(message, at, now)
        if episode is None or at > episode.last_sos_at:
            self._episodes[message.device_id] = _Episode(at, at, event.key)
        return [event]


def _sos_event(message: SosObserved, at: datetime, now: datetime) -> RuleEvent:
    key = f"sos:{message.device_id}:{iso(at)}"
    data: dict[str, Json] = {
        "guard_id": message.guard_id,
        "device_id": message.device_id,
        "shift_id": message.shift_id,
        "post_id": message.post_id,
        "site_id": message.site_id,
        "on_duty": message.shift_id is not None,
        "detected_at": iso(now),
        "received_at": iso(utc(message.received_at)),
        "backfilled": (now - at).total_seconds() > BACKFILL_AFTER_S,
        "late": False,
        "position": message.position.to_json(at),
        "raw": message.raw,
    }
    return RuleEvent(type=ALERT_SOS, time=at, key=key, data=data, alert_key=key)
