"""``guard-gateway bench`` end to end on a small load: every fix stored and acknowledged after its
commit, through a private mosquitto whose in-flight window the command sets."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GATEWAY = Path(sys.executable).with_name("guard-gateway")


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="--inflight sets mosquitto's window")
def test_bench_stores_and_acknowledges_every_fix_with_a_window_of_twenty() -> None:
    done = subprocess.run(
        [str(GATEWAY), "bench", "--terminals", "10", "--messages", "600", "--inflight", "20"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert (result["broker"], result["broker_inflight_window"]) == ("mosquitto", 20)
    e2e = result["end_to_end"]
    assert e2e["stored"] == 600
    assert e2e["acknowledged_after_commit"] == 600
    assert e2e["stale_acks"] == 0
    assert e2e["fixes_per_s"] > 0
    # Timed from the gateway's first receipt, while the load was still being published (as the
    # bare subscriber is), not from the end of the publishing.
    assert 0 <= e2e["first_receipt_s"] < e2e["publish_seconds"]
    assert result["bare_subscriber"]["messages"] == 600


def test_inflight_is_refused_with_a_broker_of_ones_own() -> None:
    done = subprocess.run(
        [str(GATEWAY), "bench", "--broker", "mqtt://127.0.0.1:1", "--inflight", "20"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--inflight sets the private broker's window" in done.stderr
