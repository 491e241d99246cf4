"""The rules' ``replace``: what ``dataclasses.replace`` gives, for the records it copies."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.rules.copying import replace
from gateway.rules.entries import iso
from gateway.rules.state import PresenceState
from gateway.rules.tracks import DeviceTrack

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _state() -> PresenceState:
    return PresenceState.start(
        "s-1", "g-1", "p-1", "site", ("d-1", "d-2"), START, START.replace(hour=20)
    )


def test_a_copy_equals_dataclasses_replace_and_shares_the_fields_left_alone() -> None:
    state = _state()
    later = START + timedelta(minutes=3)
    ours = replace(state, last_fix_time=later, last_device_id="d-2")
    theirs = dataclasses.replace(state, last_fix_time=later, last_device_id="d-2")
    assert ours == theirs
    assert ours is not state and type(ours) is PresenceState
    assert (ours.last_fix_time, ours.last_device_id) == (later, "d-2")
    assert state.last_fix_time is None  # the original is untouched
    for field in fields(PresenceState):
        if field.name not in ("last_fix_time", "last_device_id"):
            assert getattr(ours, field.name) is getattr(state, field.name)
    assert replace(state) == state


def test_the_copy_is_frozen_like_the_original() -> None:
    copy = replace(_state(), closed=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.closed = False  # type: ignore[misc]


def test_an_unknown_field_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="PresenceState has no field 'closd'"):
        replace(_state(), closd=True)


@dataclass(frozen=True)
class _Checked:
    minutes: int

    def __post_init__(self) -> None:
        if self.minutes < 0:
            raise ValueError("negative minutes")


def test_a_record_with_its_own_checks_still_runs_them() -> None:
    assert replace(_Checked(3), minutes=4) == _Checked(4)
    with pytest.raises(ValueError, match="negative minutes"):
        replace(_Checked(3), minutes=-1)


def test_other_record_types_get_their_own_copier() -> None:
    track = DeviceTrack(device_id="d-1", last_fix_time=START, inside=True)
    moved = replace(track, device_id="d-2", run_count=2)
    assert moved == dataclasses.replace(track, device_id="d-2", run_count=2)
    assert (moved.device_id, moved.run_count, moved.inside) == ("d-2", 2, True)


def test_iso_text_is_the_same_for_equal_instants_in_any_zone() -> None:
    east = START.astimezone(timezone(timedelta(hours=8)))
    assert iso(START) == iso(east) == "2026-03-02T08:00:00+00:00"
    assert iso(START + timedelta(microseconds=1)) == "2026-03-02T08:00:00.000001+00:00"
