"""Counter names never come from payload bytes.

The pipeline counts each reject as ``rejected.<words>``, the words taken from the reason before
its first ``:``, ``(`` or ``,`` (``gateway.pipeline.reasons.reason_key``). If a reason put
input there, a sender could mint counters at will. So every codec is fed arbitrary bytes (and
JSON- or sentence-like text) and every counter name must be one of a fixed, known set.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from drivers.em4100.codec import FrameRejected, make_framer
from drivers.em4100.frames import Variant
from drivers.gps.registry import FORMAT_NAMES, codec_for
from drivers.zkteco.binary_records import decode_live_event
from drivers.zkteco.push_codec import parse_attlog
from gateway.pipeline.reasons import reason_key
from tests.unit.drivers.fuzzing import fuzz_settings

RECEIVED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

_JSON_NUMBERS = ("lat", "lon", "accuracy_m", "speed_mps", "course_deg", "altitude_m", "battery_pct")
_OWNTRACKS_NUMBERS = ("lat", "lon", "tst", "acc", "alt", "vel", "cog", "batt")
_EMQX_INTEGERS = (
    "msg_id",
    "alarm",
    "status",
    "latitude",
    "longitude",
    "altitude",
    "speed",
    "direction",
)
_OWNTRACKS_TYPES = (
    "beacon",
    "card",
    "cmd",
    "configuration",
    "dump",
    "lwt",
    "request",
    "status",
    "steps",
    "transition",
    "waypoint",
    "waypoints",
)
_NMEA_NUMBERS = ("speed", "course", "hdop", "altitude")

KNOWN = frozenset(
    {
        # the JSON front shared by gateway JSON, OwnTracks and EMQX; the size limits
        "not_json",
        "payload_too_large",
        "json_nested_too_deep",
        "batch_too_large",
        # gateway JSON
        "a_position_must_be",
        "fixes_must_be_a",
        "device_id_must_be_a",
        "device_id_mismatch",  # every codec's identity check
        "missing_field",
        "no_device_id",
        "time",
        "time_is_not",
        "time_has_no_zone",
        "time_is_not_epoch",
        "time_must_be_an",
        "time_out_of_range",  # an ISO time whose UTC is outside the calendar
        "latitude",
        "longitude",
        "latitudelongitude_is_not_a",
        "coordinates_are_exactly",
        "latitude_out_of_range",
        "longitude_out_of_range",
        "satellites_must_be_a",
        "unknown_alarm",
        "alarms_must_be_a",
        "alarm_names_must_be",
        "sos_not_raised",
        *(f"{key}_must_be_a" for key in _JSON_NUMBERS),
        *(f"{key}_is_not_finite" for key in _JSON_NUMBERS),
        *(f"{key}" for key in _JSON_NUMBERS),  # "<key> <value> out of range [lo, hi]"
        *(f"{key}_out_of_range" for key in _JSON_NUMBERS),
        # OwnTracks
        "not_an_owntracks_message",
        "owntracks_untyped_message",
        "owntracks_unknown_type",
        "owntracks_encrypted_payload",
        *(f"owntracks_{kind}" for kind in _OWNTRACKS_TYPES),
        *(f"{key}_must_be_a" for key in _OWNTRACKS_NUMBERS),
        *(f"{key}_is_not_a" for key in _OWNTRACKS_NUMBERS),
        *(f"{key}_is_not_finite" for key in _OWNTRACKS_NUMBERS),
        "tst_is_not_epoch",
        # EMQX JT/T 808
        "not_a_json_object",
        "body_must_be_a",
        "location_must_be_a",
        "time_must_be_a",
        "body_has_no_location",
        *(f"{key}_must_be_a" for key in _EMQX_INTEGERS),
        *(f"{key}_out_of_range" for key in _EMQX_INTEGERS),  # wider than its DWORD/WORD
        # JT/T 808 framing, messages and locations
        "hex_text_with_an",
        "header_too_short",
        "incomplete_frame",
        "garbage_outside_a_frame",
        "invalid_escape_at_offset",
        "frame_too_long",
        "checksum_mismatch",
        "body_length_inconsistent_with",
        "location_body_too_short",
        "batch_body_too_short",
        "batch_item",
        "batch",
        "bad_time",
        "no_position",
        "encrypted_location_message",
        "sub-packaged_location_message",
        "sub-packaged_message",
        "sub-packaged_message_incomplete",
        # NMEA
        "empty_payload",
        "empty_line",
        "not_ascii_text",
        "garbage_before",
        "missing_checksum",
        "malformed_checksum",
        "garbage",
        "not_an_nmea_sentence",
        "bad_coordinate",
        "bad_hemisphere",
        "coordinates",
        "no_fix",
        "simulated_fix",
        "estimated_position",
        "manual_position",
        "bad_rmc_date",
        "bad_gga_quality",
        "bad_gns_mode_letters",
        "bad_satellite_count",
        "rmc_has_fields_expected",
        "gga_has_fields_expected",
        "gns_has_fields_expected",
        *(f"{kind}_without_a_date" for kind in ("rmc", "gga", "gns")),
        *(f"bad_{name}" for name in _NMEA_NUMBERS),
        # ZKTeco PUSH and binary
        "attlog_line_has_no",
        "blank_pin",
        "attlog_time_is_not",
        "attlog_time_out_of",
        "attlog_punch_state",
        "live_event_of_bytes",
        "six-byte_time_is_not",
        "packed_time_is_not",
        # EM4100: the reader's reject codes
        "cut",
        "no_etx",
        "length",
        "non_hex",
        "checksum",
        "non_decimal",
        "range",
        "non_binary",
        "parity",
    }
)


def counter_names(payload: bytes) -> set[str]:
    reasons: list[str] = []
    for name in FORMAT_NAMES:
        outcome = codec_for(name).decode(payload, RECEIVED, "T-0042")
        reasons.extend(r.reason for r in outcome.rejects)
    batch = parse_attlog(payload, terminal_id="ZK-1", received_at=RECEIVED)
    reasons.extend(r.reason for r in batch.rejects)
    reasons.extend(e.reason for e in decode_live_event(payload)[1])
    for variant in Variant:
        framer = make_framer(variant)
        for item in [*framer.feed(payload), *framer.flush()]:
            if isinstance(item, FrameRejected):  # as the EM4100 driver words it
                reasons.append(
                    f"{item.reason.value}: {item.detail}" if item.detail else item.reason.value
                )
    return {reason_key(reason) for reason in reasons}


_TEXTY = st.text(
    alphabet=st.sampled_from("[]{}\",:0123456789.-eE ntrufalsNI\\$*\n\t'\x02\x03GPRMCA7e7d"),
    max_size=300,
).map(lambda text: text.encode("utf-8"))
_JSONISH = st.dictionaries(
    st.sampled_from(
        [
            "time",
            "lat",
            "lon",
            "alarms",
            "device_id",
            "fixes",
            "_type",
            "tst",
            "header",
            "body",
            "topic",
        ]
    ),
    st.none()
    | st.booleans()
    | st.floats()
    | st.integers()
    | st.text(max_size=20)
    | st.lists(st.text(max_size=8), max_size=3),
    max_size=6,
).map(lambda doc: json.dumps(doc).encode())


@fuzz_settings
@given(payload=st.binary(max_size=1024) | _TEXTY | _JSONISH)
def test_counter_names_from_any_input_stay_in_the_known_set(payload: bytes) -> None:
    assert counter_names(payload) - KNOWN == set()


def test_quoted_input_never_reaches_a_counter_name() -> None:
    nasty = "a'b c\"d: e, (f"
    for reason in (
        f"unknown alarm {nasty!r} (known: sos)",
        f"time {nasty!r} is not ISO-8601",
        f"ATTLOG time is not YYYY-MM-DD hh:mm:ss: {nasty!r}",
        f"device id mismatch: sentence names {nasty!r}, topic names 'x'",
    ):
        key = reason_key(reason)
        assert not {"a", "b", "c", "d", "e", "f"} & set(key.split("_")), (reason, key)
