"""``guard-gateway run`` as an installed service starts it: settings from the env file named by
``GATEWAY_ENV_FILE`` (the environment winning), a refusal on a database whose migrations are
behind that says how to fix it, and ``/ready`` and ``/metrics`` of the running process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from alembic.script import ScriptDirectory
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from drivers.mqtt.broker import RunningBroker
from gateway.bootstrap import free_port
from gateway.db.engine import make_engine
from gateway.db.migrate import alembic_config, current, head, upgrade
from gateway.db.models import SiteRow
from tests.conftest import REPO_ROOT


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any GATEWAY_* setting, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(values)
    return env


def run_gateway(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def migrated(db_url: str, revision: str = "head") -> str:
    engine = make_engine(db_url)
    try:
        upgrade(engine, revision)
    finally:
        engine.dispose()
    return db_url


def test_run_reads_the_env_file_the_environment_winning_and_serves_ready_and_metrics(
    db_url: str, mqtt_broker: RunningBroker, tmp_path: Path
) -> None:
    api_port = free_port()
    env_file = tmp_path / "gateway.env"
    env_file.write_text(
        "# as deploy/gateway.env.example\n"
        f"GATEWAY_DATABASE_URL={migrated(db_url)}\n"
        f"GATEWAY_API_PORT={api_port}\n"
        "GATEWAY_MQTT_URL=mqtt://127.0.0.1:1\n"  # overridden by the environment below
        "GATEWAY_MQTT_CLIENT_ID=ops-env-file\n",
        encoding="utf-8",
    )
    env = clean_env(GATEWAY_ENV_FILE=str(env_file), GATEWAY_MQTT_URL=mqtt_broker.url)
    process = run_gateway(env)
    try:
        assert process.stdout is not None and process.stderr is not None
        started = process.stdout.readline()
        assert started == (
            f"guard-gateway: API on http://127.0.0.1:{api_port}, broker {mqtt_broker.url}\n"
        ), started + (process.stderr.read() if process.poll() is not None else "")
        api = f"http://127.0.0.1:{api_port}"
        deadline = time.monotonic() + 15
        ready = httpx.get(f"{api}/ready", timeout=10)
        while ready.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)  # the broker connection comes up on its own thread
            ready = httpx.get(f"{api}/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["failing"] == []
        metrics = httpx.get(f"{api}/metrics", timeout=10)
        names = {f.name for f in text_string_to_metric_families(metrics.text)}
        assert {"guard_gateway_mqtt_connected", "guard_gateway_queue_depth"} <= names
        assert "guard_gateway_pipeline_batch_seconds" in names
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def test_run_refuses_a_database_one_migration_behind_and_says_how_to_fix_it(
    db_url: str, tmp_path: Path
) -> None:
    newest = head()
    assert newest is not None
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(newest).down_revision
    assert isinstance(previous, str)
    migrated(db_url, previous)
    env = clean_env(GATEWAY_DATABASE_URL=db_url, GATEWAY_API_PORT=str(free_port()))
    process = run_gateway(env)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert err.strip().splitlines()[-1] == (
        f"guard-gateway: refusing to start: the database is at revision {previous}; this "
        f"version of guard-gateway needs revision {newest}: back it up, then run "
        "`guard-gateway db upgrade`"
    )
    engine = make_engine(db_url)
    try:
        assert current(engine) == previous  # refused without touching it
    finally:
        engine.dispose()

    upgraded = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "db", "upgrade"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert upgraded.returncode == 0 and upgraded.stdout == f"database at revision {newest}\n"


def test_run_refuses_a_database_never_migrated_and_an_env_file_that_does_not_exist(
    db_url: str, tmp_path: Path
) -> None:
    env = clean_env(GATEWAY_DATABASE_URL=db_url, GATEWAY_API_PORT=str(free_port()))
    never = run_gateway(env)
    _out, err = never.communicate(timeout=60)
    assert never.returncode == 1
    assert "the database has never been migrated" in err
    assert "`guard-gateway db upgrade`" in err

    missing = tmp_path / "nowhere.env"
    absent = run_gateway(clean_env(GATEWAY_ENV_FILE=str(missing)))
    _out, err = absent.communicate(timeout=60)
    assert absent.returncode == 2
    assert err.strip() == f"guard-gateway: GATEWAY_ENV_FILE={missing}: no such file"


def test_a_misspelt_line_of_the_env_file_stops_every_command_naming_it_and_the_setting_meant(
    tmp_path: Path,
) -> None:
    # Ignored, GATEWAY_CORE_ULR ran the gateway with no core: its events kept, never sent.
    env_file = tmp_path / "gateway.env"
    env_file.write_text(
        "GATEWAY_DATABASE_URL=sqlite:///" + str(tmp_path / "g.db") + "\n"
        "GATEWAY_CORE_ULR=https://core.example.invalid/events\n",
        encoding="utf-8",
    )
    for command in (["run"], ["token", "list"]):
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", *command],
            cwd=REPO_ROOT,
            env=clean_env(GATEWAY_ENV_FILE=str(env_file)),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2
        assert done.stderr.strip() == (
            f"guard-gateway: GATEWAY_ENV_FILE={env_file}: GATEWAY_CORE_ULR: no such setting "
            "(did you mean GATEWAY_CORE_URL?)"
        )
    assert not (tmp_path / "g.db").exists()  # stopped before anything was opened


def test_an_unknown_variable_in_the_environment_is_told_not_refused(tmp_path: Path) -> None:
    # The environment holds what other programs set too: told on stderr, the command goes on.
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "token", "list"],
        cwd=REPO_ROOT,
        env=clean_env(
            GATEWAY_DATABASE_URL="sqlite:///" + str(tmp_path / "g.db"), GATEWAY_API_PROT="8081"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "GATEWAY_API_PROT: no such setting (did you mean GATEWAY_API_PORT?)" in done.stderr
    assert done.returncode != 2


def test_run_refuses_an_api_port_already_taken_at_once_before_loading_its_site(
    db_url: str, tmp_path: Path
) -> None:
    """A second ``run`` (or another program) on the port: exit 2 naming the settings, before
    the site file is loaded or anything started, not a traceback 10 s after the start."""
    site = tmp_path / "site.yaml"
    site.write_text((REPO_ROOT / "gateway" / "samples" / "wuhan-site.yaml").read_text("utf-8"))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = clean_env(
            GATEWAY_DATABASE_URL=migrated(db_url),
            GATEWAY_API_PORT=str(port),
            GATEWAY_MQTT_URL=f"mqtt://127.0.0.1:{free_port()}",  # nobody: never reached
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "--site", str(site)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = process.communicate(timeout=60)
    assert (process.returncode, out) == (2, "")
    assert err == (
        f"guard-gateway: cannot serve the API on 127.0.0.1:{port} (GATEWAY_API_HOST, "
        "GATEWAY_API_PORT): Address already in use; another program holds it (a gateway "
        "already running?)\n"
    )
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(SiteRow)) == 0
    finally:
        engine.dispose()
