"""The production install files: the compose file validated by ``docker compose config`` (when
the compose plugin is installed) and read as YAML, the systemd unit verified by
``systemd-analyze`` (when present), the env file example read by the real settings, and the
Dockerfile's promises (slim Python 3.11, a non-root user, ``guard-gateway run``)."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.settings import ENV_FILE_VARIABLE, Settings
from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"


def compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not compose_available(), reason="docker compose (the compose plugin) is not installed here"
)
def test_docker_compose_config_accepts_the_compose_file(tmp_path: Path) -> None:
    env_file = DEPLOY / "gateway.env"
    created = not env_file.exists()
    if created:
        env_file.write_text((DEPLOY / "gateway.env.example").read_text(), encoding="utf-8")
    try:
        result = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": "/usr/bin:/bin:/usr/local/bin", "GATEWAY_DB_PASSWORD": "x" * 20},
        )
    finally:
        if created:
            env_file.unlink()
    assert result.returncode == 0, result.stderr


def test_the_compose_file_wires_gateway_broker_and_database() -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"gateway", "mosquitto", "postgres"}
    gateway = services["gateway"]
    assert gateway["build"] == {"context": "..", "dockerfile": "Dockerfile"}
    assert (DEPLOY / gateway["build"]["context"] / "Dockerfile").is_file()
    assert gateway["env_file"] == ["gateway.env"]
    assert gateway["command"] == ["run"]
    assert gateway["environment"]["GATEWAY_MQTT_URL"] == "mqtt://mosquitto:1883"
    assert gateway["environment"]["GATEWAY_DATABASE_URL"].startswith(
        "postgresql+psycopg://gateway:${GATEWAY_DB_PASSWORD"
    )
    assert gateway["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert gateway["ports"] == ["127.0.0.1:8808:8808"]  # the API and /metrics: not public
    broker = services["mosquitto"]
    assert "./broker/mosquitto:/broker:ro" in broker["volumes"]
    conf_mount = "./mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro"
    assert conf_mount in broker["volumes"]
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8").splitlines()
    for line in (
        "allow_anonymous false",
        "use_username_as_clientid true",
        "password_file /broker/passwords",  # as broker-config writes them under mosquitto/
        "acl_file /broker/acl",
        "persistence true",
        "max_inflight_messages 1000",
    ):
        assert line in conf
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${GATEWAY_DB_PASSWORD:?"
    )


def test_the_env_file_example_is_read_by_the_settings_and_holds_no_usable_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = DEPLOY / "gateway.env.example"
    keys = [
        line.split("=", 1)[0]
        for line in example.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    fields = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields}
    assert sorted(set(keys) - fields) == []  # every line is a setting the gateway knows
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(example))
    settings = Settings()
    assert settings.mqtt_username == "guard-gateway"
    assert settings.api_port == 8808
    assert settings.retention_records_days == 730
    with pytest.raises(ValueError, match="GATEWAY_CORE_SECRET is the published default"):
        settings.refuse_default_secrets()


def test_the_systemd_unit_runs_the_gateway_unprivileged_with_the_env_file(
    tmp_path: Path,
) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "guard-gateway.service", encoding="utf-8")
    service = unit["Service"]
    assert service["ExecStart"].endswith("/guard-gateway run")
    assert service["User"] == "guard-gateway"
    assert service["Environment"] == "GATEWAY_ENV_FILE=/etc/guard-gateway/gateway.env"
    assert service["KillSignal"] == "SIGTERM"
    assert service["RestartPreventExitStatus"] == "1 2"  # the refusals, see cmd_run
    if shutil.which("systemd-analyze") is None:
        return
    # Verified with the executable path pointed at this checkout's script.
    script = str(Path(sys.executable).parent / "guard-gateway")
    text = (DEPLOY / "guard-gateway.service").read_text(encoding="utf-8")
    local = tmp_path / "guard-gateway.service"
    local.write_text(
        text.replace("/opt/guard-gateway/venv/bin/guard-gateway", script), encoding="utf-8"
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(local)], capture_output=True, text=True, check=False
    )
    problems = [line for line in result.stderr.splitlines() if "guard-gateway.service" in line]
    assert problems == [], result.stderr


def test_the_dockerfile_runs_guard_gateway_as_a_non_root_user_on_python_3_11_slim() -> None:
    lines = [
        line.strip()
        for line in (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users == ["guard-gateway"]
    assert lines[-2:] == ['ENTRYPOINT ["guard-gateway"]', 'CMD ["run"]']
