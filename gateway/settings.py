"""Settings: one pydantic-settings class, read from ``GATEWAY_*`` environment variables and,
when ``GATEWAY_ENV_FILE`` names one, from that env file (``KEY=value`` lines, as systemd's
``EnvironmentFile=`` and compose's ``env_file:`` read them). The environment wins over the file.

Nothing is read at import time; ``Settings()`` is built once in ``bootstrap`` or the CLI.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from gateway.errors import ConfigError
from gateway.privacy.retention import RetentionPolicy
from geofence.datum import Datum

__all__ = [
    "ENV_FILE_VARIABLE",
    "MIN_SECRET_LENGTH",
    "OTHER_VARIABLES",
    "Settings",
    "load_settings",
    "unknown_variables",
]

log = logging.getLogger(__name__)

ENV_FILE_VARIABLE = "GATEWAY_ENV_FILE"
"""The environment variable naming the env file to read settings from (unset: none)."""

MIN_SECRET_LENGTH = 16
"""Shortest HMAC key ``guard-gateway run`` accepts: 16 characters of a random string."""

KNOWN_DEFAULTS = frozenset({"change-me", "changeme", "secret", "password", "demo-secret"})
"""Values shipped in examples and defaults, which anyone can read and so must never sign."""


class Settings(BaseSettings):
    """Everything an operator can set. Defaults run the embedded demo set-up."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=None, extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the file ``GATEWAY_ENV_FILE`` names (read
        when ``Settings()`` is built, not at import). A named file that does not exist raises
        ``ConfigError``: a typo must not start the service on the defaults."""
        named = os.environ.get(ENV_FILE_VARIABLE)
        if not named:
            return init_settings, env_settings, file_secret_settings
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"{ENV_FILE_VARIABLE}={named}: no such file")
        unknown = unknown_variables(dotenv_values(path, encoding="utf-8"))
        if unknown:
            # Ignored, a misspelt line would leave its setting at the default without a word:
            # GATEWAY_CORE_ULR runs the gateway with no core, its events never sent.
            raise ConfigError(f"{ENV_FILE_VARIABLE}={named}: " + "; ".join(unknown))
        env_file = DotEnvSettingsSource(settings_cls, env_file=path, env_file_encoding="utf-8")
        return init_settings, env_settings, env_file, file_secret_settings

    database_url: str = Field(
        default="sqlite:///guard-gateway.db",
        description="SQLAlchemy URL: an SQLite file, or postgresql+psycopg://...",
    )

    @field_validator("database_url")
    @classmethod
    def _database_url_usable(cls, value: str) -> str:
        # Said by every command at once, not as a traceback from the first engine made.
        from gateway.db.engine import database_url_problem

        if (problem := database_url_problem(value)) is not None:
            raise ValueError(problem)
        return value

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
    mqtt_ingest_process: bool = Field(
        default=True,
        description="Read the broker from a child process (drivers/mqtt/ingest_process.py), so "
        "paho's work does not share the pipeline's interpreter lock; false: in this process. "
        "One process with GATEWAY_PARTITIONS=1 only; partition clients run in this process.",
    )
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
    delivery_workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Delivery workers to the core in this process; more than one needs "
        "PostgreSQL (rows locked FOR UPDATE SKIP LOCKED). SQLite keeps one.",
    )

    partitions: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Partitions of the guards (docs/scaling.md). 1: one process holds every "
        "guard with one MQTT client, no leases. More: each partition is an MQTT client of its "
        "own (<client id>-pNN) leased through the database; every process of the gateway must "
        "use the same number; several processes need PostgreSQL.",
    )
    node_id: str | None = Field(
        default=None,
        max_length=128,
        description="This process's name in the partition leases (default: hostname-pid).",
    )
    public_url: str | None = Field(
        default=None,
        description="The URL other processes send this one's API calls to (commands for "
        "guards of partitions held here, whereabouts). Default: http://<api_host>:<api_port>.",
    )

    field_devices: list[str] | None = Field(
        default=None,
        description="The ids of the site files' readers and binary clock-in terminals (devices "
        "with a url) this process opens, as a JSON list; default: every one. With processes on "
        'several hosts give each the devices attached to its host (["em-gate", "zk-hall"]); '
        "[] opens none. Processes on one host may all open every reader: a serial port is "
        "read by one of them at a time (docs/scaling.md).",
    )
    lock_dir: Path | None = Field(
        default=None,
        description="Where the processes of one host keep the locks of the checkpoint readers "
        "and of the clock-in terminals they reach over the network, so one of them talks to "
        "each (docs/scaling.md); they "
        "must all see the same directory. Default: locks in $STATE_DIRECTORY under systemd "
        "(the shipped unit's /var/lib/guard-gateway: its PrivateTmp gives each process a /tmp "
        "of its own), else guard-gateway-locks in the system's temporary directory.",
    )

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
        default=30,
        ge=0,
        description="Days messages delivered to the group robots are kept; 0: forever (events "
        "delivered to the core are records: retention_records_days).",
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
    api_max_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Larger request bodies are refused (413)."
    )
    iclock_port: int | None = Field(
        default=None,
        description="Serve the ZKTeco PUSH routes (/iclock/...) on this port, apart from the "
        "API, so the API need not be reachable from the terminals' network. Unset: both on "
        "api_port.",
    )
    iclock_host: str = Field(
        default="127.0.0.1", description="Address the /iclock server listens on (iclock_port)."
    )

    map_tile_url: str | None = Field(
        default=None,
        description="The live page's background map: a slippy-map tile URL template with {z}, "
        "{x}, {y} (and optionally {s}: a, b, c), e.g. an AMap or OSM tile server the leaders' "
        "browsers reach. Unset: the page draws the fences alone, offline.",
    )
    map_tile_datum: Datum = Field(
        default=Datum.WGS84,
        description="The datum of map_tile_url's tiles (gcj02 for AMap, wgs84 for OSM), to which "
        "the page converts every point so it sits on the right street.",
    )
    map_tile_attribution: str = Field(
        default="", description="The credit line the tile provider asks for, shown on the map."
    )

    def refuse_default_secrets(self) -> None:
        """Raise ``ValueError`` naming each secret that is a shipped default, empty or shorter
        than ``MIN_SECRET_LENGTH`` where it is in use: the core's signing key when a core URL is
        set, the JT/T 808 key when set. ``guard-gateway run`` calls it; the demo, whose
        secrets sign only for its own stubs, does not."""
        problems = []
        in_use = {
            "GATEWAY_CORE_SECRET": self.core_secret if self.core_url else None,
            "GATEWAY_JT808_AUTH_SECRET": self.jt808_auth_secret,
        }
        for name, secret in in_use.items():
            if secret is None:
                continue
            value = secret.get_secret_value()
            if value.strip().lower() in KNOWN_DEFAULTS:
                problems.append(f"{name} is the published default {value!r}")
            elif len(value) < MIN_SECRET_LENGTH:
                problems.append(
                    f"{name} is {'empty' if not value else f'{len(value)} characters'}; "
                    f"give at least {MIN_SECRET_LENGTH} random characters"
                )
        if problems:
            raise ValueError(
                "refusing to run with a guessable secret: "
                + "; ".join(problems)
                + " (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )

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


OTHER_VARIABLES = frozenset(
    {ENV_FILE_VARIABLE, "GATEWAY_TEST_CLOCK", "GATEWAY_INGEST_LOG_LEVEL", "GATEWAY_DB_PASSWORD"}
)
"""``GATEWAY_*`` variables that are no setting yet are read: the env file's name, the clock of a
test bench (``gateway.clock``), the ingest child's log level, the compose file's database
password."""


def unknown_variables(variables: Mapping[str, object]) -> list[str]:
    """For each ``GATEWAY_*`` name in ``variables`` that is neither a setting nor one of
    ``OTHER_VARIABLES``, a line naming it and the setting it may be a misspelling of."""
    known = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields} | OTHER_VARIABLES
    lines = []
    for name in sorted(variables):
        upper = name.upper()
        if not upper.startswith("GATEWAY_") or upper in known:
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        lines.append(f"{name}: no such setting{hint}")
    return lines


def load_settings(**overrides: Any) -> Settings:
    """``Settings(**overrides)``, or ``ConfigError`` naming every variable that is wrong and
    why (``GATEWAY_API_PORT: Input should be a valid integer ...``), never its value (it may
    be a secret). Every command builds its settings here, so a bad setting is one line and
    exit status 2 (``gateway.cli.main``), not a traceback."""
    # The environment also holds what other programs set: an unknown name there is told, not
    # refused (the env file, which is the gateway's alone, refuses it).
    for line in unknown_variables(os.environ):
        log.warning("environment: %s", line)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [
            f"{_variable(error['loc'])}: {error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        ]
        raise ConfigError("bad setting: " + "; ".join(problems)) from None
    except SettingsError as exc:  # a JSON setting (GATEWAY_ROBOT_SECRETS) that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"GATEWAY_{field[1].upper()}" if field else "a GATEWAY_* setting"
        raise ConfigError(f"bad setting: {name}: not valid JSON ({exc.__cause__})") from None


def _variable(loc: tuple[int | str, ...]) -> str:
    """``("api_port",)`` → ``GATEWAY_API_PORT`` (an item of a list setting keeps its index)."""
    name = f"GATEWAY_{str(loc[0]).upper()}" if loc else "a GATEWAY_* setting"
    return name + "".join(f"[{part!r}]" for part in loc[1:])
