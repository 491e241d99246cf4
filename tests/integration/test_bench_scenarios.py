"""``guard-gateway bench --scenario NAME`` at tiny sizes, through the command: each prints one JSON
object whose counts are exact (speeds are the bench's business, not the suite's)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.bench.scenarios import SCENARIOS
from gateway.db.engine import make_engine
from gateway.db.models import PositionRow, PresenceStateRow, SiteRow
from gateway.outbox.tables import OutboxRow

GATEWAY = Path(sys.executable).with_name("guard-gateway")
MACHINE_KEYS = {"cores", "python", "implementation", "platform", "database", "load_average_1m"}
needs_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto") is None, reason="a real broker for the publish path"
)


def bench(*args: str, timeout: float = 240) -> tuple[int, dict[str, Any] | None, str]:
    done = subprocess.run(
        [str(GATEWAY), "bench", *args], capture_output=True, text=True, timeout=timeout
    )
    result = json.loads(done.stdout) if done.returncode in (0, 1) and done.stdout else None
    return done.returncode, result, done.stderr


def test_list_names_and_describes_every_scenario() -> None:
    done = subprocess.run(
        [str(GATEWAY), "bench", "--list"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines()]
    assert names == ["flood", "steady", "shift-change", "posts", "history", "delivery"]
    assert names == list(SCENARIOS)
    assert all(len(line.split()) > 5 for line in done.stdout.splitlines())


def test_an_unknown_scenario_is_refused_naming_the_list() -> None:
    code, result, stderr = bench("--scenario", "rush-hour", timeout=60)
    assert (code, result) == (2, None)
    assert "unknown scenario 'rush-hour'; bench --list names them" in stderr


def test_posts_stores_every_fix_for_each_post_count_and_leaves_the_database_empty(
    db_url: str,
) -> None:
    code, result, stderr = bench(
        "--scenario", "posts", "--posts", "5,40", "--guards", "5", "--messages", "60",
        "--database-url", db_url,
    )  # fmt: skip
    assert code == 0, stderr
    assert result is not None
    assert result["scenario"] == "posts"
    assert set(result["machine"]) == MACHINE_KEYS
    assert result["machine"]["database"] == db_url.split(":")[0].split("+")[0]
    assert [leg["posts"] for leg in result["legs"]] == [5, 40]
    assert [leg["stored"] for leg in result["legs"]] == [60, 60]
    assert result["goal"] == {"flatness_at_least": 0.8}
    assert result["met"] == (result["flatness"] >= 0.8)
    engine = make_engine(db_url)
    with engine.connect() as conn:  # what the bench wrote, it emptied
        assert conn.scalar(select(func.count()).select_from(PositionRow)) == 0
        assert conn.scalar(select(func.count()).select_from(SiteRow)) == 0
    engine.dispose()


def test_history_stores_one_closed_shift_a_day_per_guard_and_reloads_only_the_open(
    db_url: str,
) -> None:
    code, result, stderr = bench(
        "--scenario", "history", "--days", "1,3", "--guards", "4", "--database-url", db_url
    )  # fmt: skip
    assert code == 0, stderr
    assert result is not None
    legs = result["legs"]
    assert [(leg["days"], leg["closed_shifts"], leg["open_states"]) for leg in legs] == [
        (1, 4, 4),
        (3, 12, 4),
    ]
    assert all(leg["reload_seconds"] > 0 for leg in legs)
    assert set(legs[0]["memory"]) == {"rss_mb", "peak_rss_mb"}
    assert result["goal"] == {"reload_ratio_at_most": 1.25, "slack_s": 0.05}
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(PresenceStateRow)) == 0
    engine.dispose()


def test_bench_refuses_a_database_that_holds_a_site(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'real.db'}"
    code, _, stderr = bench(
        "--scenario", "history", "--days", "1", "--guards", "2", "--database-url", url
    )  # fmt: skip
    assert code == 0, stderr
    from gateway.bench.common import write_roster
    from gateway.clock import SystemClock

    engine = make_engine(url)
    now = SystemClock().now()
    write_roster(engine, guards=1, starts=[now], loaded_at=now)
    engine.dispose()

    code, result, stderr = bench(
        "--scenario", "history", "--days", "1", "--guards", "2", "--database-url", url
    )  # fmt: skip
    assert (code, result) == (2, None)
    assert "the bench needs an empty database: this one holds sites" in stderr
    engine = make_engine(url)
    with engine.connect() as conn:  # the site that was there is still there
        assert conn.scalar(select(func.count()).select_from(SiteRow)) == 1
    engine.dispose()


def test_delivery_delivers_every_row_once_to_the_core_stub(db_url: str) -> None:
    code, result, stderr = bench(
        "--scenario", "delivery", "--events", "40", "--workers", "1,2", "--database-url", db_url
    )  # fmt: skip
    assert code == 0, stderr
    assert result is not None
    one, two = result["legs"]
    assert (one["workers"], one["available"], one["delivered"]) == (1, True, 40)
    assert (one["core_accepted"], one["core_duplicates"], one["core_rejected"]) == (40, 0, 0)
    # Two workers share the outbox through row locks: PostgreSQL only.
    if db_url.startswith("postgresql"):
        assert two["available"] is True
        assert (two["delivered"], two["core_accepted"], two["core_duplicates"]) == (40, 40, 0)
    else:
        assert two["available"] is False and "need PostgreSQL" in two["reason"]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(OutboxRow)) == 0
    engine.dispose()


@needs_mosquitto
def test_steady_stores_every_fix_and_raises_every_absence() -> None:
    code, result, stderr = bench(
        "--scenario", "steady", "--guards", "100", "--seconds", "40", "--compression", "8"
    )  # fmt: skip
    assert code == 0, stderr
    assert result is not None
    assert (result["guards"], result["guards_absent"]) == (100, 1)
    fixes = result["fixes"]
    # 99 present guards, one fix each per 20 s, for 40 s: 198; plus two each in the warm-up
    # (the second confirms his arrival).
    assert (fixes["published"], fixes["settled"], fixes["all_stored"]) == (198, 198, True)
    assert fixes["stored_counter"] == 198 + 2 * 99
    assert set(fixes["latency_s"]) == {"p50", "p99", "max"}
    assert result["alerts"]["absent_at_shift_start"] == 1
    assert result["alerts"]["lateness_s"]["max"] >= 0
    assert set(result["memory"]) == {"rss_mb", "peak_rss_mb"}
    assert result["bare_subscriber"]["messages"] == 198
    assert result["goal"] == {"alert_lateness_p99_s": 1.0, "peak_rss_mb_below": 1024.0}
    assert isinstance(result["met"], bool)


@needs_mosquitto
def test_shift_change_raises_an_absence_for_each_absent_tenth() -> None:
    code, result, stderr = bench("--scenario", "shift-change", "--guards", "50", "--seconds", "4")
    assert code == 0, stderr
    assert result is not None
    assert (result["guards"], result["guards_absent"]) == (50, 5)
    alerts = result["alerts"]
    assert (alerts["absent_at_shift_start"], alerts["all_raised"]) == (5, True)
    assert alerts["last_lateness_s"] == alerts["lateness_s"]["max"]
    meanwhile = result["fixes_meanwhile"]
    # 45 present guards at one fix per 20 s each, for 4 s: 9 fixes.
    assert (meanwhile["published"], meanwhile["settled"], meanwhile["all_stored"]) == (9, 9, True)
    assert (alerts["device_silent"], result["absent_every"], result["silent_too"]) == (0, 10, False)
    assert result["goal"] == {"last_alert_lateness_s": 5.0}
    assert result["met"] == (alerts["last_lateness_s"] <= 5.0)


@needs_mosquitto
def test_shift_change_with_every_guard_absent_and_silent_raises_both_for_each() -> None:
    code, result, stderr = bench(
        "--scenario", "shift-change", "--guards", "30", "--seconds", "2",
        "--absent-every", "1", "--silent-too",
    )  # fmt: skip
    assert code == 0, stderr
    assert result is not None
    assert (result["guards_absent"], result["absent_every"], result["silent_too"]) == (30, 1, True)
    alerts = result["alerts"]
    assert (alerts["absent_at_shift_start"], alerts["device_silent"]) == (30, 30)
    assert alerts["all_raised"] is True
    assert alerts["last_event_lateness_s"] >= alerts["last_lateness_s"]
    # Nobody present: no fix is sent while the deadlines fall.
    assert result["fixes_meanwhile"]["published"] == 0


@needs_mosquitto
def test_flood_scenario_is_the_flood_with_machine_facts_and_the_goal() -> None:
    code, result, stderr = bench("--scenario", "flood", "--terminals", "10", "--messages", "300")
    assert code == 0, stderr
    assert result is not None
    assert (result["scenario"], result["processes"]) == ("flood", 1)
    assert set(result["machine"]) == MACHINE_KEYS
    assert result["end_to_end"]["stored"] == 300
    assert result["bare_subscriber"]["messages"] == 300
    assert result["goal"] == {"ratio_to_bare_at_least": 0.8}
    assert result["met"] == (result["ratio_to_bare"] >= 0.8)


def refused_without_postgres(db_url: str, scenario: str, *args: str) -> bool:
    """On SQLite, ``--processes 2`` of ``scenario`` is refused for want of PostgreSQL's leases
    (asserted; ``True``); on PostgreSQL, ``False``: the test goes on."""
    if db_url.startswith("postgresql"):
        return False
    code, result, stderr = bench(
        "--scenario", scenario, "--processes", "2", *args, "--database-url", db_url, timeout=60
    )
    assert (code, result) == (2, None)
    assert "leases in PostgreSQL" in stderr
    return True


@needs_mosquitto
@pytest.mark.timeout(600)  # two runs of real guard-gateway processes taking 16 partitions
def test_flood_over_two_processes_stores_every_fix_once_in_each_leg(db_url: str) -> None:
    if refused_without_postgres(db_url, "flood", "--terminals", "10", "--messages", "100"):
        return
    code, result, stderr = bench(
        "--scenario", "flood", "--processes", "2", "--terminals", "20", "--messages", "400",
        "--database-url", db_url, timeout=540,
    )  # fmt: skip
    assert code == 0, stderr
    assert result is not None
    one, two = result["legs"]
    assert (one["processes"], one["partitions"], one["stored"]) == (1, 16, 400)
    assert (two["processes"], two["partitions"], two["stored"]) == (2, 16, 400)
    assert result["scaling_efficiency"] == round(two["fixes_per_s"] / (2 * one["fixes_per_s"]), 3)
    for leg in (one, two):  # the partitions' clients run in the gateways' processes
        assert leg["cpu_seconds"]["gateways"] > 0 and leg["cpu_seconds"]["mqtt_clients"] == 0


@needs_mosquitto
@pytest.mark.timeout(600)  # two runs of real guard-gateway processes taking 16 partitions
def test_shift_change_over_two_processes_raises_each_absence_once_in_each_leg(
    db_url: str,
) -> None:
    if refused_without_postgres(db_url, "shift-change", "--guards", "40"):
        return
    code, result, stderr = bench(
        "--scenario", "shift-change", "--processes", "2", "--guards", "40", "--absent-every",
        "3", "--database-url", db_url, timeout=60,
    )  # fmt: skip
    assert (code, result) == (2, None)
    assert "every guard is absent" in stderr
    code, result, stderr = bench(
        "--scenario", "shift-change", "--processes", "2", "--guards", "40",
        "--database-url", db_url, timeout=540,
    )  # fmt: skip
    assert code == 0, stderr
    assert result is not None
    assert (result["scenario"], result["processes"], result["guards_absent"]) == (
        "shift-change", 2, 40,
    )  # fmt: skip
    one, two = result["legs"]
    for leg, processes in ((one, 1), (two, 2)):
        assert (leg["processes"], leg["partitions"], leg["guards"]) == (processes, 16, 40)
        assert (leg["absences"], leg["all_raised"], leg["alerts_per_guard_at_most"]) == (
            40, True, 1,
        )  # fmt: skip
        assert leg["last_lateness_s"] == leg["lateness_s"]["max"]
    assert result["speed_up"] == round(one["last_lateness_s"] / two["last_lateness_s"], 3)
    assert result["met"] == (two["last_lateness_s"] <= 5.0)
    engine = make_engine(db_url)
    with engine.connect() as conn:  # what the bench wrote, it emptied
        assert conn.scalar(select(func.count()).select_from(OutboxRow)) == 0
        assert conn.scalar(select(func.count()).select_from(PresenceStateRow)) == 0
    engine.dispose()
