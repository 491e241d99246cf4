"""Settings: one pydantic-settings class, read from ``GATEWAY_*`` environment variables.

Nothing is read at import time; ``Settings()`` is built once in ``bootstrap`` or the CLI.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.errors import ConfigError
from gateway.privacy.retention import RetentionPolicy

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything an operator can set. Defaults run the embedded demo set-up."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=None, extra="ignore")

    database_url: str = Field(
        default="sqlite:///guard-gateway.db",
        description="SQLAlchemy URL: an SQLite file, or postgresql+psycopg://...",
    )
    mqtt_url: str = Field(
        default="mqtt://127.0.0.1:1883",
        description="Broker URL: mqtt://host:port or mqtts://host:port (TLS).",
    )
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_client_id: str = "guard-gateway"
    mqtt_ca_file: str | None = Field(default=None, description="CA bundle for mqtts://")
    mqtt_cert_file: str | None = None
    mqtt_key_file: str | None = None
    mqtt_topic_prefix: str = Field(default="devices", description="Prefix of the device topics")
    jt808_auth_secret: SecretStr | None = Field(
        default=None,
        description="Key deriving JT/T 808 auth codes (HMAC of the terminal id). Unset: a random "
        "key per process, so terminals must register again after each restart.",
    )

    core_url: str | None = Field(
        default=None, description="Management-core endpoint receiving CloudEvents (POST)."
    )
    core_secret: SecretStr = Field(
        default=SecretStr("change-me"), description="HMAC-SHA256 key signing each POST body."
    )
    core_timeout_s: float = 5.0
    delivery_retry_initial_s: float = 1.0
    delivery_retry_max_s: float = 300.0

    robot_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Secrets of the group robots, by the names the site file gives them "
        "(webhook_ref, secret_ref), as a JSON object: "
        '{"jt-wecom-a": "<WeCom key>", "jt-ding-b": "<access token>", "jt-ding-b-sign": "SEC..."}.',
    )
    robot_max_per_min: int = Field(
        default=15,
        ge=1,
        description="Messages a group robot is sent in any 60 s (WeCom and DingTalk refuse more "
        "than 20); alerts beyond it wait and go out merged into one digest.",
    )
    robot_timeout_s: float = 5.0

    retention_positions_days: int = Field(
        default=30,
        ge=0,
        description="Days positions (with their raw payloads) are kept; 0: forever.",
    )
    retention_raw_days: int = Field(
        default=30, ge=0, description="Days raw payloads of scans and punches are kept; 0: forever."
    )
    retention_outbox_days: int = Field(
        default=30, ge=0, description="Days delivered outbox rows are kept; 0: forever."
    )
    retention_records_days: int = Field(
        default=730,
        ge=0,
        description="Days the records the company keeps (settled alerts, reports, leaves, "
        "punches, scans, shifts) are kept; 0: forever.",
    )
    retention_interval_min: float = Field(
        default=60.0, gt=0, description="Minutes (of the gateway's clock) between purge passes."
    )

    event_source: str = Field(
        default="urn:guard-gateway:default", description="CloudEvents 'source' of our events."
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8808

    def retention_policy(self) -> RetentionPolicy:
        """The retention periods as a policy (``gateway.privacy.retention``); ``ConfigError``
        when they contradict each other."""
        try:
            return RetentionPolicy(
                positions_days=self.retention_positions_days,
                raw_days=self.retention_raw_days,
                outbox_days=self.retention_outbox_days,
                records_days=self.retention_records_days,
            )
        except ValueError as exc:
            raise ConfigError(f"GATEWAY_RETENTION_*: {exc}") from None
