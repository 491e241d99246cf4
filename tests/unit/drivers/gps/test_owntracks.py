"""OwnTracks: the booklet's documented payloads (tests/corpus/owntracks_samples.json)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from drivers.gps.owntracks import OwnTracksCodec
from drivers.gps.topics import route_topic
from gateway.records import DecodeOutcome
from tests.unit.drivers.gps.corpus_data import OWNTRACKS, RECEIVED

LOCATIONS = [s for s in OWNTRACKS if s["kind"] == "location"]


@pytest.mark.parametrize("sample", LOCATIONS, ids=lambda s: s["mqtt_topic"])
def test_documented_location_becomes_a_fix_with_the_documented_values(
    sample: dict[str, Any],
) -> None:
    route = route_topic(sample["mqtt_topic"])
    assert route is not None and route.format_name == "owntracks"
    outcome = OwnTracksCodec().decode(sample["payload_text"].encode(), RECEIVED, route.device_hint)
    assert outcome.rejects == ()
    (fix,) = outcome.fixes
    payload = sample["payload"]
    assert fix.device_id == "/".join(sample["mqtt_topic"].split("/")[1:])
    assert (fix.lat, fix.lon) == (payload["lat"], payload["lon"])
    assert fix.fix_time == datetime.fromtimestamp(payload["tst"], tz=UTC)
    assert fix.altitude_m == payload.get("alt")
    assert fix.battery_pct == (None if payload["batt"] == -1 else payload["batt"])
    assert fix.speed_mps == (payload["vel"] / 3.6 if "vel" in payload else None)
    assert fix.raw == sample["payload_text"]
    assert fix.source_format == "owntracks"


def test_transition_event_is_not_a_position_and_not_an_error() -> None:
    (transition,) = [s for s in OWNTRACKS if s["kind"] == "transition"]
    outcome = OwnTracksCodec().decode(transition["payload_text"].encode(), RECEIVED, "jane/nokia")
    assert outcome == DecodeOutcome()


@pytest.mark.parametrize("kind", ["lwt", "waypoint", "card", "status"])
def test_other_message_types_give_an_empty_outcome(kind: str) -> None:
    payload = f'{{"_type": "{kind}", "tst": 1706856298}}'.encode()
    assert OwnTracksCodec().decode(payload, RECEIVED, "jane/nokia") == DecodeOutcome()


def test_numbers_sent_as_strings_are_accepted() -> None:
    payload = b'{"_type":"location","lat":"48.85","lon":"2.29","tst":"1706856298","acc":"12"}'
    (fix,) = OwnTracksCodec().decode(payload, RECEIVED, "jane/nokia").fixes
    assert (fix.lat, fix.lon, fix.accuracy_m) == (48.85, 2.29, 12.0)


@pytest.mark.parametrize(
    "payload,reason",
    [
        (b'{"_type":"location","lat":48.8,"lon":2.2', "not JSON"),
        (b'{"_type":"location","lon":2.2,"tst":1706856298}', "missing field 'lat'"),
        (b'{"_type":"location","lat":"north","lon":2.2,"tst":1}', "lat 'north' is not a number"),
        (b'{"_type":"location","lat":98,"lon":2.2,"tst":1706856298}', "latitude 98.0 out of range"),
        (b'{"_type":"encrypted","data":"abc"}', "encrypted"),
    ],
)
def test_malformed_locations_are_rejected(payload: bytes, reason: str) -> None:
    outcome = OwnTracksCodec().decode(payload, RECEIVED, "jane/nokia")
    assert outcome.fixes == ()
    assert reason in outcome.rejects[0].reason


def test_http_mode_payload_names_its_device_in_the_topic_field() -> None:
    payload = (
        b'{"_type":"location","lat":48.8,"lon":2.2,"tst":1706856298,"topic":"owntracks/jane/nokia"}'
    )
    (fix,) = OwnTracksCodec().decode(payload, RECEIVED, None).fixes
    assert fix.device_id == "jane/nokia"
