"""Which MQTT ingest a gateway builds: a process of its own by default, its own thread with
``GATEWAY_MQTT_INGEST_PROCESS=false`` (``gateway.cluster.wiring.single_ingest``)."""

from __future__ import annotations

import pytest

from drivers.mqtt.broker import RunningBroker
from drivers.mqtt.ingest import MqttIngest
from drivers.mqtt.ingest_process import IngestProcess
from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.settings import Settings
from tests.e2e.helpers import DAY_START


@pytest.mark.parametrize(
    ("setting", "kind"), [(None, IngestProcess), ("false", MqttIngest)], ids=["default", "off"]
)
def test_the_setting_chooses_where_the_mqtt_client_runs(
    db_url: str,
    mqtt_broker: RunningBroker,
    monkeypatch: pytest.MonkeyPatch,
    setting: str | None,
    kind: type,
) -> None:
    monkeypatch.delenv("GATEWAY_MQTT_INGEST_PROCESS", raising=False)
    if setting is not None:
        monkeypatch.setenv("GATEWAY_MQTT_INGEST_PROCESS", setting)
    settings = Settings(database_url=db_url, mqtt_url=mqtt_broker.url, mqtt_client_id="choice")
    assert settings.mqtt_ingest_process is (setting is None)
    gateway = build_gateway(settings, ManualClock(DAY_START), with_field_devices=False)
    ingest = gateway.ingest
    assert ingest is not None and type(ingest) is kind
    gateway.start()
    try:
        assert ingest.wait_connected(10)
        if isinstance(ingest, IngestProcess):
            assert ingest.process_id is not None
    finally:
        gateway.stop()
    assert not ingest.connected
