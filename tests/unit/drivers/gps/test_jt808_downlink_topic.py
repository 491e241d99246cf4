"""Where JT/T 808 replies go (the downlink topic) and how the MQTT decoder gets a JT/T 808
codec that answers terminals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest
from paho.mqtt.client import topic_matches_sub

from drivers.gps.jt808 import Jt808Codec, Jt808Platform
from drivers.gps.mqtt_decoder import GpsMessageDecoder
from drivers.gps.topics import downlink_topic, route_topic, subscription_filters
from gateway.errors import ConfigError
from tests.unit.drivers.gps.corpus_data import FRAMES, RECEIVED


@dataclass(frozen=True)
class _Message:
    topic: str
    payload: bytes
    received_at: datetime
    retain: bool = False


def test_downlink_topic_is_the_uplink_topic_plus_down_and_is_never_routed_back() -> None:
    assert downlink_topic("jt808", "13800000001") == "devices/13800000001/jt808/down"
    assert downlink_topic("jt808", "T-1", "acme/gps/") == "acme/gps/T-1/jt808/down"
    down = downlink_topic("jt808", "13800000001")
    assert route_topic(down) is None
    assert not any(topic_matches_sub(f, down) for f in subscription_filters())


def test_downlink_topic_refuses_unknown_channels_and_ids_that_are_no_topic_level() -> None:
    with pytest.raises(ValueError, match="channel"):
        downlink_topic("gt06", "1")
    for bad in ("", "a/b", "+", "#"):
        with pytest.raises(ValueError, match="topic level"):
            downlink_topic("jt808", bad)


def test_decoder_uses_the_given_jt808_codec_and_the_topic_id_for_replies() -> None:
    codec = Jt808Codec(Jt808Platform(b"k"))
    decoder = GpsMessageDecoder("devices", codecs={"jt808": codec})
    heartbeat = bytes.fromhex(FRAMES[34]["frame_hex"])
    outcome = decoder(_Message("devices/043048325465/jt808", heartbeat, RECEIVED))
    assert outcome is not None
    assert [r.device_id for r in outcome.replies] == ["043048325465"]
    plain = GpsMessageDecoder("devices")(_Message("devices/x/jt808", heartbeat, RECEIVED))
    assert plain is not None and plain.replies == ()


def test_decoder_refuses_a_codec_under_another_formats_name() -> None:
    with pytest.raises(ConfigError, match="decodes 'jt808'"):
        GpsMessageDecoder("devices", codecs={"nmea": Jt808Codec()})
