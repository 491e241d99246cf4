"""What ``MqttIngest`` refuses to be built with: each a ``ConfigError`` naming the setting,
raised by the constructor, before any connection is tried."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from drivers.mqtt.ingest import MqttIngest, TlsOptions
from gateway.clock import ManualClock
from gateway.errors import ConfigError


def _ingest(url: str = "mqtt://127.0.0.1:1883", **overrides: Any) -> MqttIngest:
    options: dict[str, Any] = {
        "client_id": "gg-test",
        "topic_filters": ["gps/+/fix"],
        "handoff": lambda _message: None,
        "clock": ManualClock(datetime(2026, 3, 2, tzinfo=UTC)),
    }
    options.update(overrides)
    return MqttIngest(url, **options)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"client_id": ""}, "client id is required"),
        ({"topic_filters": []}, "topic filters must be non-empty"),
        ({"topic_filters": ["gps/#", ""]}, "topic filters must be non-empty"),
        ({"qos": 3}, "qos must be 0, 1 or 2, not 3"),
        ({"reconnect_min_s": 0}, "need 0 < reconnect_min_s <= reconnect_max_s, got 0, 60"),
        (
            {"reconnect_min_s": 30, "reconnect_max_s": 10},
            "need 0 < reconnect_min_s <= reconnect_max_s, got 30, 10",
        ),
        ({"tls": TlsOptions()}, "TLS options given for mqtt://127.0.0.1:1883; use mqtts://"),
    ],
)
def test_a_setting_it_cannot_run_with_is_refused_by_name(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _ingest(**overrides)


def test_the_settings_it_can_run_with_build_it_without_connecting() -> None:
    ingest = _ingest(qos=0, reconnect_min_s=5, reconnect_max_s=5)
    assert not ingest.connected
    assert _ingest("mqtts://127.0.0.1:8883", tls=TlsOptions()).connected is False
