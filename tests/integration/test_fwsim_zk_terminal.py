"""``fwsim zk-terminal`` as an integrator runs it: a process serving the users and log of its
``--data`` file, read by pyzk with the comm key, punches typed on its standard input arriving as
live events."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from zk import ZK  # type: ignore[import-untyped]

from fwsim.cli import main

DATA = """\
users:
  - {uid: 1, user_id: "1001", name: 李明, card: 4571234}
  - {uid: 7, user_id: "1003", name: Admin, privilege: 14, password: "1234"}
records:
  - {pin: "1001", at: "2026-03-02 07:58:12", punch: 0, verify: 1}
  - {pin: "1003", at: "2026-03-02 08:01:05", punch: 1, verify: 15}
"""


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    data = tmp_path / "terminal.yaml"
    data.write_text(DATA, encoding="utf-8")
    command = [sys.executable, "-m", "fwsim.cli", "zk-terminal", "--port", "0"]
    command += ["--data", str(data), "--comm-key", "55", "--serial", "SIM0001"]
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"listening on tcp://127\.0\.0\.1:(\d+) \(2 users, 2 records\)", banner)
        assert found, banner
        yield process, int(found.group(1))
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(5)


def test_pyzk_reads_and_follows_the_terminal_the_command_runs(
    terminal: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = terminal
    assert process.stdin is not None and process.stdout is not None
    conn: Any = ZK("127.0.0.1", port=port, timeout=5, password=55, ommit_ping=True).connect()
    assert conn.get_serialnumber() == "SIM0001"
    assert [(u.uid, u.user_id, u.name, u.card) for u in conn.get_users()] == [
        (1, "1001", "李明", 4571234),
        (7, "1003", "Admin", 0),
    ]
    assert [(a.user_id, a.timestamp, a.punch) for a in conn.get_attendance()] == [
        ("1001", datetime(2026, 3, 2, 7, 58, 12), 0),
        ("1003", datetime(2026, 3, 2, 8, 1, 5), 1),
    ]
    got = []
    typed = False
    deadline = time.monotonic() + 10
    for event in conn.live_capture(new_timeout=1):
        if event is None and not typed:  # registered and waiting: punch on the terminal
            process.stdin.write("punch 1001 0 1 2026-03-02T18:02:03\n")
            process.stdin.write("punch 1003 1 15 2026-03-02T18:04:59\n")
            process.stdin.flush()
            typed = True
        elif event is not None:
            got.append((event.user_id, event.timestamp, event.status, event.punch, event.uid))
        if len(got) == 2 or time.monotonic() > deadline:
            conn.end_live_capture = True
    conn.disconnect()
    assert got == [
        ("1001", datetime(2026, 3, 2, 18, 2, 3), 1, 0, 1),
        ("1003", datetime(2026, 3, 2, 18, 4, 59), 15, 1, 7),
    ]
    process.stdin.write("quit\n")
    process.stdin.flush()
    assert process.wait(5) == 0
    assert process.stdout.read().splitlines() == [
        "punched 1001 at 2026-03-02 18:02:03",
        "punched 1003 at 2026-03-02 18:04:59",
    ]


def test_a_bad_data_file_is_refused_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "terminal.yaml"
    data.write_text('users:\n  - {uid: 1, user_id: "A-17"}\n', encoding="utf-8")
    code = main(["zk-terminal", "--port", "0", "--user-size", "28", "--data", str(data)])
    assert code == 2
    assert capsys.readouterr().err == (
        "zk-terminal: the 28-byte user layout holds numeric user ids, not 'A-17'\n"
    )
    data.write_text("users:\n  - {user_id: '1'}\n", encoding="utf-8")
    assert main(["zk-terminal", "--port", "0", "--data", str(data)]) == 2
    assert capsys.readouterr().err == f"zk-terminal: {data}: KeyError('uid')\n"
