"""Shift entries expand into concrete UTC shifts in the site's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.site.roster import expand_entry, expansion_days, shift_id
from gateway.site.schema import ShiftEntry

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_daily_night_shift_crosses_midnight_into_the_next_local_day() -> None:
    entry = ShiftEntry(guard="g-1", post="p-1", days="daily", start="20:00", end="08:00")
    shifts = expand_entry(entry, SHANGHAI, date(2026, 3, 1), date(2026, 3, 2))
    # 20:00 Shanghai (UTC+8) is 12:00 UTC; 08:00 the next morning is 00:00 UTC.
    assert shifts == [
        (datetime(2026, 3, 1, 12, 0, tzinfo=UTC), datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
        (datetime(2026, 3, 2, 12, 0, tzinfo=UTC), datetime(2026, 3, 3, 0, 0, tzinfo=UTC)),
    ]


def test_day_shift_starting_after_midnight_utc_stays_on_its_local_day() -> None:
    entry = ShiftEntry(guard="g-1", post="p-1", days="daily", start="06:00", end="14:00")
    [(start, end)] = expand_entry(entry, SHANGHAI, date(2026, 3, 2), date(2026, 3, 2))
    assert start == datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_weekday_roster_uses_the_day_the_shift_starts() -> None:
    # 2026-03-06 is a Friday: the Friday night shift ends on Saturday morning.
    entry = ShiftEntry(guard="g-1", post="p-1", days=["fri"], start="22:00", end="06:00")
    shifts = expand_entry(entry, SHANGHAI, date(2026, 3, 2), date(2026, 3, 8))
    assert shifts == [
        (datetime(2026, 3, 6, 14, 0, tzinfo=UTC), datetime(2026, 3, 6, 22, 0, tzinfo=UTC)),
    ]


def test_concrete_shift_is_read_in_the_site_time_zone() -> None:
    entry = ShiftEntry(guard="g-1", post="p-1", start="2026-03-02T22:00", end="2026-03-03T06:00")
    assert expand_entry(entry, SHANGHAI, date(2000, 1, 1), date(2000, 1, 1)) == [
        (datetime(2026, 3, 2, 14, 0, tzinfo=UTC), datetime(2026, 3, 2, 22, 0, tzinfo=UTC)),
    ]


@pytest.mark.parametrize(
    ("start", "end", "days", "words"),
    [
        ("08:00", "08:00", "daily", "equals start"),
        ("2026-03-02T08:00", "2026-03-02T08:00", None, "equals start"),
        ("2026-03-02T08:00", "2026-03-02T07:00", None, "before start"),
        ("25:00", "08:00", "daily", "not a time of day"),
        ("08:00", "20:00", None, "not a local date-time"),
    ],
)
def test_shift_without_a_readable_positive_length_is_refused(
    start: str, end: str, days: str | None, words: str
) -> None:
    entry = ShiftEntry.model_validate(
        {"guard": "g", "post": "p", "start": start, "end": end, "days": days}
    )
    with pytest.raises(ValueError, match=words):
        expand_entry(entry, SHANGHAI, date(2026, 3, 2), date(2026, 3, 2))


def test_expansion_covers_the_local_day_before_and_a_week_after() -> None:
    # 2026-03-01 20:00 UTC is already 2026-03-02 04:00 in Shanghai.
    first, last = expansion_days(datetime(2026, 3, 1, 20, 0, tzinfo=UTC), SHANGHAI)
    assert (first, last) == (date(2026, 3, 1), date(2026, 3, 9))


def test_shift_id_is_stable_and_names_guard_post_and_utc_start() -> None:
    start = datetime(2026, 3, 2, 20, 0, tzinfo=SHANGHAI)
    assert shift_id("g-1", "gate", start) == "g-1/gate/20260302T120000Z"
