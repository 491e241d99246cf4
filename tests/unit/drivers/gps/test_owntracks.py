"""OwnTracks: the booklet's documented payloads (tests/corpus/owntracks_samples.json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from drivers.gps.owntracks import OwnTracksCodec
from drivers.gps.topics import route_topic
from gateway.pipeline.reasons import reason_key
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


def test_documented_transition_is_rejected_with_a_stated_reason_not_dropped_silently() -> None:
    (transition,) = [s for s in OWNTRACKS if s["kind"] == "transition"]
    payload = transition["payload_text"].encode()
    outcome = OwnTracksCodec().decode(payload, RECEIVED, "jane/nokia")
    assert outcome.fixes == ()
    (rejected,) = outcome.rejects
    assert rejected.reason == "OwnTracks transition: not a location report"
    assert (rejected.raw, rejected.device_id) == (payload, "jane/nokia")


# The booklet documents no payload of these types; minimal ones are made here to exercise the
# refusal (a ``tst`` as every OwnTracks message has).
OTHER_TYPES = [
    "beacon",
    "card",
    "cmd",
    "configuration",
    "dump",
    "request",
    "status",
    "steps",
    "transition",
    "waypoint",
    "waypoints",
]


def _reject_reason(payload: bytes, hint: str | None = "jane/nokia") -> str:
    outcome = OwnTracksCodec().decode(payload, RECEIVED, hint)
    assert outcome.fixes == ()
    (rejected,) = outcome.rejects
    return rejected.reason


@pytest.mark.parametrize("kind", OTHER_TYPES)
def test_every_other_documented_type_is_rejected_as_not_a_location_report(kind: str) -> None:
    reason = _reject_reason(f'{{"_type": "{kind}", "tst": 1706856298}}'.encode())
    assert reason == f"OwnTracks {kind}: not a location report"


def test_each_kind_of_message_has_its_own_stable_counter_words() -> None:
    # The pipeline names a reject's counter from the words of its reason before the first ':'.
    # Each documented type gets its own; unknown and untyped messages one each, whatever the
    # payload holds, so a sender cannot mint counters.
    heads = {
        _reject_reason(f'{{"_type": "{kind}"}}'.encode()).split(":")[0] for kind in OTHER_TYPES
    }
    assert heads == {f"OwnTracks {kind}" for kind in OTHER_TYPES}
    for odd in ("Location", "x:y (z)", "it's", "type42", '\\"'):
        payload = json.dumps({"_type": odd}).encode()
        assert _reject_reason(payload).split(":")[0] == "OwnTracks unknown type"
    for untyped in (b'{"lat": 1, "lon": 2}', b'{"_type": 5}', b'{"_type": ""}'):
        assert _reject_reason(untyped).split(":")[0] == "OwnTracks untyped message"
    assert _reject_reason(b'{"_type": "encrypted", "data": "x"}').split(":")[0] == (
        "OwnTracks encrypted payload"
    )


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


@pytest.mark.parametrize("sample", LOCATIONS, ids=lambda s: s["mqtt_topic"])
def test_without_a_topic_the_tid_names_the_device(sample: dict[str, Any]) -> None:
    (fix,) = OwnTracksCodec().decode(sample["payload_text"].encode(), RECEIVED, None).fixes
    assert fix.device_id == sample["payload"]["tid"]


def test_without_topic_topic_field_or_tid_only_a_fallback_names_the_device() -> None:
    payload = b'{"_type":"location","lat":48.8,"lon":2.2,"tst":1706856298}'
    assert _reject_reason(payload, None).startswith("no device id")
    (fix,) = OwnTracksCodec(fallback_device="unknown").decode(payload, RECEIVED).fixes
    assert fix.device_id == "unknown"


def test_a_topic_field_naming_another_device_is_rejected_and_tid_is_never_compared() -> None:
    (sample,) = [s for s in LOCATIONS if s["mqtt_topic"] == "owntracks/jane/nokia"]
    own = json.loads(sample["payload_text"])
    forged = json.dumps({**own, "topic": "owntracks/bob/phone"}).encode()
    outcome = OwnTracksCodec().decode(forged, RECEIVED, "jane/nokia")
    assert outcome.fixes == ()
    (rejected,) = outcome.rejects
    assert (
        rejected.reason
        == "device id mismatch: payload topic names 'bob/phone', topic names 'jane/nokia'"
    )
    assert rejected.device_id == "jane/nokia"
    agreeing = json.dumps({**own, "topic": "owntracks/jane/nokia/event"}).encode()
    assert len(OwnTracksCodec().decode(agreeing, RECEIVED, "jane/nokia").fixes) == 1
    # tid "j1" is a display label: it differs from the topic's device and that is fine.
    assert len(OwnTracksCodec().decode(sample["payload_text"].encode(), RECEIVED, "x/y").fixes)


def test_the_apps_last_will_gives_nothing_and_is_no_reject() -> None:
    # Published by the broker on the base topic whenever the phone's connection drops.
    outcome = OwnTracksCodec().decode(
        b'{"_type": "lwt", "tst": 1706856298}', RECEIVED, "jane/nokia"
    )
    assert outcome == DecodeOutcome()
    forged = b'{"_type": "lwt", "tst": 1706856298, "topic": "owntracks/joe/phone"}'
    (rejected,) = OwnTracksCodec().decode(forged, RECEIVED, "jane/nokia").rejects
    assert reason_key(rejected.reason) == "device_id_mismatch"
