"""Records that name their user by the terminal's internal number, waiting for its user table.

An 8-byte log record and a 10- or 14-byte live event of older firmware name the user by the
terminal's internal number only (``binary_records``); the PIN comes from the user table. A
record is credited with the table read in the current session (``uid:<number>`` when that table
lacks the number: a user deleted since), never without one: a terminal refusing the table (busy
with an administrator at its keypad) would otherwise have the punch stored as ``uid:<number>``
now and again under the PIN once the table is read, one punch twice, the first time credited to
nobody. So such a record is held until a table is read: ``NumberCredit`` keeps them (by their
bytes: a record read twice waits once) and says when to ask for the table again, with back-off
after a refusal. The records stay in the terminal's log meanwhile; held live events are kept
here across reconnects, for as long as the client runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from drivers.zkteco.binary_records import AttendanceRecord, credited

__all__ = ["NumberCredit"]


class NumberCredit:
    """The user table of the current session and the records waiting for one (module docstring).

    Not thread-safe: used from the client's thread only. Times are ``time.monotonic`` readings
    (the wait between two requests to a device, not a time of the domain).
    """

    def __init__(self, *, retry_initial_s: float, retry_max_s: float) -> None:
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._held: dict[bytes, AttendanceRecord] = {}
        self._pins: dict[int, str] | None = None
        self._delay_s = 0.0
        self._retry_at = 0.0

    @property
    def held(self) -> int:
        """How many records wait for the user table."""
        return len(self._held)

    @property
    def refused(self) -> bool:
        """Whether the last request for the table was refused (and none succeeded since)."""
        return self._delay_s > 0

    def new_session(self) -> None:
        """A new session: its table is not read yet (users may have been renumbered since)."""
        self._pins = None

    def sort(self, records: Iterable[AttendanceRecord]) -> list[AttendanceRecord]:
        """The records ready to emit, credited with this session's table; a record of the
        number form whose number that table does not have (or with no table yet) is held."""
        ready: list[AttendanceRecord] = []
        for record in records:
            if not record.by_number:
                ready.append(record)
            elif self._pins is not None and record.uid in self._pins:
                ready.append(credited(record, self._pins))
            else:
                self._held.setdefault(record.raw, record)
        return ready

    def due(self, now_s: float) -> bool:
        """Whether records wait and the table may be asked for again at ``now_s``."""
        return bool(self._held) and now_s >= self._retry_at

    def settle(self, pins: Mapping[int, str]) -> list[AttendanceRecord]:
        """The table was read: every held record credited with it (``uid:<number>`` for a number
        it lacks, as the table is this session's), no longer held."""
        self._pins = dict(pins)
        self._delay_s = 0.0
        self._retry_at = 0.0
        out = [credited(record, self._pins) for record in self._held.values()]
        self._held.clear()
        return out

    def refusal(self, now_s: float) -> float:
        """The terminal refused the table at ``now_s``: the seconds until it is asked again
        (doubling from ``retry_initial_s`` up to ``retry_max_s``)."""
        self._delay_s = min(max(self._delay_s * 2, self._retry_initial_s), self._retry_max_s)
        self._retry_at = now_s + self._delay_s
        return self._delay_s
