"""Gateway JSON and OwnTracks encoders: layouts from the gateway's payload contract and the
OwnTracks booklet samples in the corpus."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from fwsim.gps.encoders import EncoderOptions, make_encoder
from fwsim.gps.fix import SimFix
from fwsim.gps.gateway_json import encode_json, encode_json_batch, iso_utc
from fwsim.gps.owntracks import encode_owntracks

# Keys documented for _type=location in the OwnTracks JSON format.
OWNTRACKS_LOCATION_KEYS = {
    "_type", "acc", "alt", "batt", "bs", "cog", "conn", "created_at", "inregions", "lat", "lon",
    "m", "rad", "SSID", "t", "tid", "tst", "vac", "vel", "BSSID", "topic", "p", "poi", "tag",
}  # fmt: skip


def _fix(**kw: object) -> SimFix:
    values: dict[str, object] = {
        "device_id": "13800000001",
        "time": datetime(2025, 3, 1, 8, 0, 30, tzinfo=UTC),
        "lat": 30.59281234567,
        "lon": 114.30551234567,
        "accuracy_m": 7.96,
        "speed_mps": 1.437,
        "course_deg": 359.97,
        "altitude_m": 24.44,
        "satellites": 9,
        "battery_pct": 88.0,
    }
    values.update(kw)
    return SimFix(**values)  # type: ignore[arg-type]


def test_json_fix_has_the_contract_fields_in_si_units_and_iso_z_time() -> None:
    obj = json.loads(encode_json(_fix()))
    assert obj == {
        "time": "2025-03-01T08:00:30Z",
        "lat": 30.5928123,
        "lon": 114.3055123,
        "accuracy_m": 8.0,
        "speed_mps": 1.44,
        "course_deg": 0.0,
        "altitude_m": 24.4,
        "satellites": 9,
        "battery_pct": 88.0,
    }


def test_json_sos_fix_lists_the_sos_alarm_and_unknowns_are_left_out() -> None:
    obj = json.loads(encode_json(_fix(sos=True, satellites=None, battery_pct=None)))
    assert obj["alarms"] == ["sos"]
    assert "satellites" not in obj and "battery_pct" not in obj


def test_json_time_keeps_milliseconds_when_present() -> None:
    assert iso_utc(datetime(2025, 3, 1, 8, 0, 30, 250000, tzinfo=UTC)) == "2025-03-01T08:00:30.250Z"


def test_json_batch_wraps_fixes_in_order() -> None:
    fixes = [_fix(time=datetime(2025, 3, 1, 8, 0, s, tzinfo=UTC)) for s in (0, 30, 59)]
    obj = json.loads(encode_json_batch(fixes))
    assert [f["time"] for f in obj["fixes"]] == [
        "2025-03-01T08:00:00Z",
        "2025-03-01T08:00:30Z",
        "2025-03-01T08:00:59Z",
    ]


def test_json_encoder_publishes_on_devices_id_json() -> None:
    message = make_encoder("json", "13800000001").fix(_fix())[0]
    assert message.topic == "devices/13800000001/json"


def test_owntracks_location_matches_booklet_sample_values_and_types(corpus: Path) -> None:
    samples = json.loads((corpus / "owntracks_samples.json").read_text())
    sample = next(s for s in samples if s["mqtt_topic"] == "owntracks/jane/nokia")["payload"]
    fix = _fix(
        time=datetime.fromtimestamp(sample["tst"], UTC),
        lat=sample["lat"],
        lon=sample["lon"],
        altitude_m=float(sample["alt"]),
        battery_pct=float(sample["batt"]),
        speed_mps=sample["vel"] / 3.6,
    )
    obj = json.loads(encode_owntracks(fix, sample["tid"]))
    shared = set(obj) & set(sample)
    assert shared >= {"_type", "lat", "lon", "tst", "alt", "batt", "vel", "tid"}
    for key in shared:
        assert obj[key] == sample[key], key
        assert type(obj[key]) is type(sample[key]), key
    assert set(obj) <= OWNTRACKS_LOCATION_KEYS
    assert obj["acc"] == 8 and obj["cog"] == 0  # whole metres; 359.97 degrees rounds to 0


def test_owntracks_unknown_battery_is_minus_one_like_the_booklet(corpus: Path) -> None:
    samples = json.loads((corpus / "owntracks_samples.json").read_text())
    unknown = next(s for s in samples if s["mqtt_topic"] == "owntracks/jane/phone")["payload"]
    obj = json.loads(encode_owntracks(_fix(battery_pct=None), "JJ"))
    assert obj["batt"] == unknown["batt"] == -1


def test_owntracks_velocity_is_whole_kmh() -> None:
    assert json.loads(encode_owntracks(_fix(speed_mps=1.4), "01"))["vel"] == 5


def test_owntracks_numbers_as_strings_like_some_android_builds() -> None:
    obj = json.loads(encode_owntracks(_fix(), "01", numbers_as_strings=True))
    assert obj["acc"] == "8" and obj["tst"] == str(int(_fix().time.timestamp()))
    assert obj["lat"] == "30.5928123"
    assert obj["_type"] == "location" and obj["tid"] == "01"


def test_owntracks_topic_and_tid_defaults_and_options() -> None:
    default = make_encoder("owntracks", "13800000001").fix(_fix())[0]
    assert default.topic == "owntracks/guard/13800000001"
    assert json.loads(default.payload)["tid"] == "01"
    custom = make_encoder(
        "owntracks", "x", EncoderOptions(owntracks_user="jane", owntracks_device="nokia", tid="j1")
    ).fix(_fix())[0]
    assert custom.topic == "owntracks/jane/nokia"
    assert json.loads(custom.payload)["tid"] == "j1"


def test_owntracks_and_nmea_upload_stored_fixes_one_message_per_fix() -> None:
    fixes = [_fix(time=datetime(2025, 3, 1, 8, 0, s, tzinfo=UTC)) for s in (0, 30)]
    for fmt in ("owntracks", "nmea"):
        messages = make_encoder(fmt, "13800000001").batch(fixes)
        assert [m.fixes for m in messages] == [1, 1]
        assert all(m.kind == "batch" for m in messages)
