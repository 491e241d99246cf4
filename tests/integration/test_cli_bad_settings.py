"""A bad setting stops every ``guard-gateway`` command at once with one line naming the
variable and what is wrong, and exit status 2: not a Python traceback from deep inside the
first database engine or settings read (a ``postgresql://`` URL, the libpq form, asked for a
driver that is not installed; a port that is not a number; robot secrets that are not JSON)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.cli import main
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "gateway" / "samples" / "wuhan-site.yaml"
KINDS = (
    "give sqlite:///PATH (sqlite:////ABSOLUTE/PATH) or "
    "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE (psycopg: guard-gateway[postgres])"
)
COMMANDS = [
    ["run"],
    ["db", "upgrade"],
    ["site", "check", str(SAMPLE)],
    ["site", "load", str(SAMPLE)],
    ["token", "list"],
    ["alerts", "list"],
    ["audit", "list"],
    ["quarantine", "list"],
    ["data", "purge"],
    ["ledger", "2026-12-07", "--out", "ledger-out"],
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("GATEWAY_") and name != "GATEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # a default database would land here: none must


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv[:2]))
@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        (
            "GATEWAY_DATABASE_URL",
            "postgresql://gateway:pw@127.0.0.1:5432/gateway",
            "GATEWAY_DATABASE_URL: the driver of 'postgresql' is not installed (No module "
            f"named 'psycopg2'); {KINDS}",
        ),
        (
            "GATEWAY_DATABASE_URL",
            "/var/lib/guard-gateway/guard-gateway.db",
            f"GATEWAY_DATABASE_URL: not a database URL; {KINDS}",
        ),
        (
            "GATEWAY_API_PORT",
            "88O8",
            "GATEWAY_API_PORT: Input should be a valid integer, unable to parse string as an "
            "integer",
        ),
        (
            "GATEWAY_ROBOT_SECRETS",
            "{'gg-wecom-key': 'x'}",
            "GATEWAY_ROBOT_SECRETS: not valid JSON (Expecting property name enclosed in double "
            "quotes: line 1 column 2 (char 1))",
        ),
    ],
    ids=["libpq-url", "bare-path", "port", "robot-json"],
)
def test_a_bad_setting_is_one_line_naming_it_and_exit_2(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    variable: str,
    value: str,
    problem: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(argv) == 2
    assert capsys.readouterr() == ("", f"guard-gateway: bad setting: {problem}\n")
    assert list(tmp_path.iterdir()) == []  # nothing written, no default database made
