"""The API's commands as an operator runs them: ``guard-gateway token create|list|revoke`` and
``audit list`` on the configured database, ``guard-gateway run`` refusing guessable secrets, and
``guard-gateway run`` as a real process serving the API and, with ``GATEWAY_ICLOCK_PORT``, the
ZKTeco routes on a port of their own."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from drivers.mqtt.broker import RunningBroker
from gateway.bootstrap import free_port
from gateway.cli import main
from gateway.db.engine import make_engine
from gateway.db.models import ShiftRow
from gateway.samples import WUHAN_SITE
from tests.conftest import REPO_ROOT
from tests.fixtures.api_tokens import bearer
from tests.fixtures.malloc_heaps import thread_heaps

SITE = "wh-jiangtan-garden"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def configured(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's settings point at the test database; no other GATEWAY_* setting leaks in."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_") and name != "GATEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    return db_url


def test_token_create_prints_the_token_once_list_shows_it_and_revoke_ends_it(
    configured: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "token", "create", "--role", "leader", "--site", SITE, "--team", "A",
        "--name", "jt-leader-a",
    )  # fmt: skip
    assert code == 0
    [token] = out.splitlines()
    assert token.startswith("gw_") and len(token) == 46
    token_id = err.split()[1]
    assert err.startswith(f"token {token_id} (leader of {SITE} teams A) for jt-leader-a")

    code, out, _ = run_cli(capsys, "token", "list")
    [line] = out.splitlines()
    assert line.startswith(f"{token_id}  leader      jt-leader-a of {SITE} teams A  created ")
    assert line.endswith("active") and token not in out

    assert run_cli(capsys, "token", "revoke", token_id)[0] == 0
    code, out, _ = run_cli(capsys, "token", "list")
    assert "  revoked " in out and not out.rstrip().endswith("active")


def test_token_create_says_when_a_leaders_site_or_team_is_none_of_the_stored_ones(
    configured: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A misspelt scope made a token that sees nothing, silently: an empty page, all well.
    assert run_cli(capsys, "site", "load", str(WUHAN_SITE))[0] == 0
    code, out, err = run_cli(
        capsys, "token", "create", "--role", "leader", "--site", "wh-jiangtan-gardn",
        "--team", "A", "--name", "typo",
    )  # fmt: skip
    assert code == 0 and out.startswith("gw_")  # made: the site file may come after
    assert err.splitlines()[1:] == [
        "notice: no site 'wh-jiangtan-gardn' is stored (stored: wh-jiangtan-garden): the "
        "token sees nothing there until a site file names it",
        "notice: no guard or leader of wh-jiangtan-gardn is in team 'A' (their teams: none): "
        "the token sees none of its guards",
    ]
    code, _, err = run_cli(
        capsys, "token", "create", "--role", "leader", "--site", SITE, "--team", "a",
        "--name", "lower case",
    )  # fmt: skip
    assert err.splitlines()[1:] == [
        f"notice: no guard or leader of {SITE} is in team 'a' (their teams: A, B): the token "
        "sees none of its guards"
    ]
    code, _, err = run_cli(
        capsys, "token", "create", "--role", "leader", "--site", SITE, "--team", "A",
        "--name", "right",
    )  # fmt: skip
    assert (code, err.splitlines()[1:]) == (0, [])


def test_token_create_refuses_a_leader_without_a_site_and_an_admin_with_one(
    configured: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "token", "create", "--role", "leader", "--name", "x")
    assert (code, out) == (1, "")
    assert err.strip() == "a leader's token needs at least one --site"
    code, out, err = run_cli(
        capsys, "token", "create", "--role", "admin", "--site", SITE, "--name", "x"
    )
    assert code == 1
    assert err.strip() == "an admin token covers every site: give no --site or --team"
    assert run_cli(capsys, "token", "revoke", "nope")[2].strip() == "no token with id 'nope'"
    assert run_cli(capsys, "token", "list")[1] == ""


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (None, "GATEWAY_CORE_SECRET is the published default 'change-me'"),
        ("", "GATEWAY_CORE_SECRET is empty; give at least 16 random characters"),
        ("s3cret-but-15ch", "GATEWAY_CORE_SECRET is 15 characters; give at least 16"),
    ],
)
def test_run_refuses_a_default_empty_or_short_core_secret(
    configured: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    secret: str | None,
    problem: str,
) -> None:
    monkeypatch.setenv("GATEWAY_CORE_URL", "http://127.0.0.1:9/events")
    if secret is not None:
        monkeypatch.setenv("GATEWAY_CORE_SECRET", secret)
    code, out, err = run_cli(capsys, "run")
    assert (code, out) == (2, "")
    assert err.startswith("guard-gateway: refusing to run with a guessable secret: ")
    assert problem in err


def test_run_refuses_a_short_jt808_key(
    configured: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_JT808_AUTH_SECRET", "changeme")
    code, _out, err = run_cli(capsys, "run")
    assert code == 2
    assert "GATEWAY_JT808_AUTH_SECRET is the published default 'changeme'" in err


def test_run_serves_the_api_with_tokens_and_iclock_on_its_own_port(
    configured: str,
    capsys: pytest.CaptureFixture[str],
    mqtt_broker: RunningBroker,
    tmp_path: Path,
) -> None:
    _code, out, _err = run_cli(capsys, "token", "create", "--role", "admin", "--name", "ops")
    token = out.strip()
    api_port, iclock_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        "GATEWAY_DATABASE_URL": configured,
        "GATEWAY_MQTT_URL": mqtt_broker.url,
        "GATEWAY_API_PORT": str(api_port),
        "GATEWAY_ICLOCK_PORT": str(iclock_port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = process.stdout.readline()
        assert started.startswith(
            f"guard-gateway: API on http://127.0.0.1:{api_port}, "
            f"ZKTeco PUSH on http://127.0.0.1:{iclock_port}, broker {mqtt_broker.url}"
        ), started + (process.stderr.read() if process.poll() is not None else "")
        api = f"http://127.0.0.1:{api_port}"
        iclock = f"http://127.0.0.1:{iclock_port}"
        handshake = {"SN": "UNKNOWN-SN", "options": "all"}

        assert httpx.get(f"{api}/health", timeout=10).status_code == 200
        assert httpx.get(f"{api}/whereabouts", timeout=10).status_code == 401
        whereabouts = httpx.get(f"{api}/whereabouts", headers=bearer(token), timeout=10)
        assert whereabouts.status_code == 200 and whereabouts.json()["guards"] == []
        # The terminals' port answers the PUSH protocol and nothing else; the API port no PUSH.
        on_iclock = httpx.get(f"{iclock}/iclock/cdata", params=handshake, timeout=10)
        # No site file names this terminal: the PUSH server refuses it, as the protocol says.
        assert on_iclock.status_code == 403 and "unknown terminal" in on_iclock.text
        assert httpx.get(f"{api}/iclock/cdata", params=handshake, timeout=10).status_code == 404
        assert httpx.get(f"{iclock}/health", timeout=10).status_code == 404
        assert httpx.get(f"{iclock}/whereabouts", timeout=10).status_code == 404
        assert httpx.get(f"{iclock}/openapi.json", timeout=10).status_code == 404
        if platform.libc_ver()[0] == "glibc":
            # Its threads have served, delivered and polled: all of them in one malloc arena
            # besides the main one (gateway.malloc_arenas).
            assert thread_heaps(process.pid) <= 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def test_audit_list_prints_one_json_record_a_line(
    configured: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from gateway.db.auth_models import AuditRow
    from gateway.db.engine import make_engine
    from gateway.db.schema import create_schema

    engine = make_engine(configured)
    create_schema(engine)
    with Session(engine) as session, session.begin():
        for minute, action in [(1, "report.file"), (2, "leave.approve")]:
            session.add(
                AuditRow(
                    at=datetime(2026, 3, 2, 0, minute, tzinfo=UTC),
                    token_id="t1",
                    token_name="core",
                    role="integration",
                    action=action,
                    guard_id="g-001",
                    target={"n": minute},
                    client="10.0.0.5",
                )
            )
    engine.dispose()
    code, out, _ = run_cli(capsys, "audit", "list", "--limit", "5")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(r["action"], r["at"], r["client"]) for r in records] == [
        ("leave.approve", "2026-03-02T00:02:00+00:00", "10.0.0.5"),
        ("report.file", "2026-03-02T00:01:00+00:00", "10.0.0.5"),
    ]
    assert run_cli(capsys, "audit", "list", "--token", "other")[1] == ""


def test_run_says_loudly_when_it_runs_on_a_test_bench_clock(
    configured: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assert run_cli(capsys, "db", "upgrade")[0] == 0
    monkeypatch.setenv("GATEWAY_TEST_CLOCK", "2026-03-02T08:00:00+00:00,60,1e12")
    # A site file that is not there stops the run right after the clock is chosen.
    code, _out, err = run_cli(capsys, "run", "--site", str(tmp_path / "missing.yaml"))
    assert code != 0
    assert err.startswith(
        "guard-gateway: on a test bench clock (GATEWAY_TEST_CLOCK), not wall time: "
        "now 2026-03-02T08:00:00+00:00, 60x\n"
    ), err


BENCH_AT_HALF_PAST_TEN = "2026-03-02T02:30:00+00:00,60,1e12"  # 10:30 in Wuhan, standing
G001_DAY_SHIFT = "g-001/jt-gate-north/20260302T000000Z"  # his 08:00-20:00 shift of that day


def _known_from(db_url: str) -> datetime | None:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            row = session.get(ShiftRow, G001_DAY_SHIFT)
            assert row is not None, "the roster was not expanded around the bench's day"
            return row.known_from
    finally:
        engine.dispose()


@pytest.mark.parametrize("how", ["site load", "run --site"])
def test_a_site_load_on_a_test_bench_clock_is_dated_by_that_clock(
    how: str,
    configured: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assert run_cli(capsys, "db", "upgrade")[0] == 0
    monkeypatch.setenv("GATEWAY_TEST_CLOCK", BENCH_AT_HALF_PAST_TEN)
    if how == "site load":
        code, _out, err = run_cli(capsys, "site", "load", str(WUHAN_SITE))
        assert code == 0, err
    else:  # the second file is missing: the run stops after loading the first
        code, _out, err = run_cli(
            capsys, "run", "--site", str(WUHAN_SITE), "--site", str(tmp_path / "missing.yaml")
        )
        assert code != 0
    assert err.startswith("guard-gateway: on a test bench clock (GATEWAY_TEST_CLOCK)"), err
    # The bench's 10:30, not the wall's: the day shift under way is known from then.
    assert _known_from(configured) == datetime(2026, 3, 2, 2, 30, tzinfo=UTC)


def test_site_commands_refuse_a_malformed_test_bench_clock(
    configured: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_TEST_CLOCK", "2026-03-02T08:00,60,1.0")
    for command in ("check", "load"):
        code, out, err = run_cli(capsys, "site", command, str(WUHAN_SITE))
        assert (code, out) == (2, "")
        assert err == "guard-gateway: GATEWAY_TEST_CLOCK: the start needs a UTC offset\n"


def test_run_refuses_a_malformed_test_bench_clock(
    configured: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli(capsys, "db", "upgrade")[0] == 0
    monkeypatch.setenv("GATEWAY_TEST_CLOCK", "2026-03-02T08:00,60,1.0")
    code, out, err = run_cli(capsys, "run")
    assert (code, out) == (2, "")
    assert err == "guard-gateway: GATEWAY_TEST_CLOCK: the start needs a UTC offset\n"
