"""The CloudEvents 1.0 envelope written for the management core."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.outbox.cloudevents import (
    EVENT_ID_NAMESPACE,
    build_event,
    canonical_json,
    make_event_id,
    rfc3339,
)

WUHAN = timezone(timedelta(hours=8))


def _event() -> dict[str, object]:
    return build_event(
        event_id=make_event_id("departed:guard-7:2026-03-01T08:15:00Z"),
        source="urn:guard-gateway:wuhan-1",
        type="presence.departed",
        subject="guard-7",
        time=datetime(2026, 3, 1, 16, 15, 0, tzinfo=WUHAN),
        data={"post": "gate-2", "distance_m": 84.5, "note": "东门"},
    )


def test_envelope_carries_every_required_cloudevents_attribute() -> None:
    event = _event()
    assert event["specversion"] == "1.0"
    assert event["source"] == "urn:guard-gateway:wuhan-1"
    assert event["type"] == "presence.departed"
    assert event["subject"] == "guard-7"
    assert event["datacontenttype"] == "application/json"
    assert event["data"] == {"post": "gate-2", "distance_m": 84.5, "note": "东门"}
    assert uuid.UUID(str(event["id"])).version == 5


def test_time_is_rfc3339_in_utc_from_the_device_clock() -> None:
    assert _event()["time"] == "2026-03-01T08:15:00Z"
    assert rfc3339(datetime(2026, 3, 1, 8, 15, 0, 250000, tzinfo=UTC)) == (
        "2026-03-01T08:15:00.250000Z"
    )


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        rfc3339(datetime(2026, 3, 1, 8, 15))


def test_same_key_gives_same_id_and_other_key_another() -> None:
    key = "alert.overtime_departure:guard-7:episode-3"
    assert make_event_id(key) == make_event_id(key)
    assert make_event_id(key) == str(uuid.uuid5(EVENT_ID_NAMESPACE, key))
    assert make_event_id(key) != make_event_id(key + "x")


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1))
def test_the_id_is_uuid5_of_the_key_for_any_key(key: str) -> None:
    assert make_event_id(key) == str(uuid.uuid5(EVENT_ID_NAMESPACE, key))


def test_the_id_namespace_never_changes() -> None:
    # A changed namespace would re-identify every replayed event and defeat de-duplication.
    assert make_event_id("k") == "26db82bc-9ab0-5513-a51a-740e0ad3af31"


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError):
        make_event_id("")


def test_serialisation_is_canonical_and_byte_identical() -> None:
    text = canonical_json(_event())
    assert text == canonical_json(_event())
    assert " " not in text.replace("东门", "")
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert '"note":"东门"' in text  # UTF-8, not \u escapes
    reordered = dict(reversed(list(_event().items())))
    assert canonical_json(reordered) == text


def test_datetimes_inside_data_are_written_as_rfc3339() -> None:
    text = canonical_json({"detected_at": datetime(2026, 3, 1, 8, 31, tzinfo=UTC)})
    assert text == '{"detected_at":"2026-03-01T08:31:00Z"}'


def test_nan_and_unknown_types_are_refused() -> None:
    with pytest.raises(ValueError):
        canonical_json({"distance_m": float("nan")})
    with pytest.raises(TypeError):
        canonical_json({"x": object()})


def test_an_infinity_hidden_deep_is_refused_and_null_is_not() -> None:
    with pytest.raises(ValueError, match="NaN and infinities"):
        canonical_json({"a": [1, {"b": (2.0, float("-inf"))}], "c": None})
    assert canonical_json({"c": None, "b": [None, 1.5]}) == '{"b":[null,1.5],"c":null}'


def test_what_the_fast_encoder_refuses_is_written_as_the_standard_one_does() -> None:
    # Integers past 64 bits and keys that are not strings.
    assert canonical_json({"n": 2**70}) == '{"n":1180591620717411303424}'
    assert canonical_json({"m": {2: "b", 1: "a"}}) == '{"m":{"1":"a","2":"b"}}'


def test_dates_uuids_and_dataclasses_inside_data() -> None:
    from dataclasses import dataclass
    from datetime import date

    ident = uuid.UUID("26db82bc-9ab0-5513-a51a-740e0ad3af31")
    text = canonical_json({"day": date(2026, 3, 1), "id": ident})
    assert text == '{"day":"2026-03-01","id":"26db82bc-9ab0-5513-a51a-740e0ad3af31"}'

    @dataclass
    class Point:
        x: float

    with pytest.raises(TypeError, match="Point is not JSON serialisable"):
        canonical_json({"p": Point(1.0)})


def test_a_wuhan_time_inside_data_is_written_in_utc() -> None:
    at = datetime(2026, 3, 1, 16, 31, 0, 500000, tzinfo=WUHAN)
    assert canonical_json([at]) == '["2026-03-01T08:31:00.500000Z"]'
