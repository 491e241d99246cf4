"""Topic routing, subscription filters, and the codec registry."""

from __future__ import annotations

import pytest

from drivers.gps.registry import FORMAT_NAMES, codec_for
from drivers.gps.topics import TopicRoute, route_topic, subscription_filters
from gateway.errors import ConfigError


@pytest.mark.parametrize(
    "topic,route",
    [
        ("devices/T-0042/json", TopicRoute("json", "T-0042")),
        ("devices/T-0042/nmea", TopicRoute("nmea", "T-0042")),
        ("devices/013800138000/jt808", TopicRoute("jt808", "013800138000")),
        ("owntracks/jane/nokia", TopicRoute("owntracks", "jane/nokia")),
        ("jt808/c1/013900000000/up", TopicRoute("jt808-emqx", "013900000000", client_id="c1")),
        ("owntracks/jane/nokia/event", None),
        ("owntracks/jane", None),
        ("jt808/c1/013900000000/dn", None),
        ("devices/T-0042/xml", None),
        ("devices/T-0042/json/extra", None),
        ("devices//json", None),
        ("other/T-0042/json", None),
    ],
)
def test_topics_route_to_their_codec_and_device(topic: str, route: TopicRoute | None) -> None:
    assert route_topic(topic) == route


def test_custom_prefix_with_several_levels() -> None:
    assert route_topic("acme/gps/T-1/json", prefix="acme/gps") == TopicRoute("json", "T-1")
    assert route_topic("devices/T-1/json", prefix="acme/gps") is None


def test_subscription_filters_cover_every_routed_topic() -> None:
    filters = subscription_filters("devices")
    assert filters == [
        "devices/+/json",
        "devices/+/nmea",
        "devices/+/jt808",
        "owntracks/+/+",
        "jt808/+/+/up",
    ]


def test_registry_names_every_format_and_gives_fresh_instances() -> None:
    assert FORMAT_NAMES == ("json", "owntracks", "nmea", "jt808", "jt808-emqx")
    for name in FORMAT_NAMES:
        codec = codec_for(name)
        assert codec.format_name == name
        assert codec_for(name) is not codec


def test_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown payload format 'gt06'"):
        codec_for("gt06")
