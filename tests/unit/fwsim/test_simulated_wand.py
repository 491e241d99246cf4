"""The simulated wand keeps its touches on its own drifting clock, and the log it hands over
reads back, through the gateway's own import, as the true times of the touches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fwsim.wand import SimulatedWand
from gateway.wand import import_wand_batch, parse_wand_csv

TOUCHED = datetime(2026, 3, 2, 0, 6, 30, tzinfo=UTC)  # 08:06:30 in Wuhan


def test_the_log_is_local_wand_time_and_the_import_corrects_it_back_to_the_true_time() -> None:
    wand = SimulatedWand("wand-g1", ZoneInfo("Asia/Shanghai"), drift_s=90)
    wand.touch("0100A1B2C3", TOUCHED)
    wand.touch("0100A1B2C4", TOUCHED + timedelta(minutes=6))
    assert wand.log_csv() == (
        "wand_id,tag_id,time\n"
        "wand-g1,0100A1B2C3,2026-03-02 08:08:00\n"  # 90 s fast, local, no offset
        "wand-g1,0100A1B2C4,2026-03-02 08:14:00\n"
    )
    downloaded = TOUCHED + timedelta(minutes=20)
    records, problems = parse_wand_csv(wand.log_csv())
    imported = import_wand_batch(
        records,
        wand_id="wand-g1",
        wand_clock_at_download=wand.clock(downloaded),
        gateway_clock_at_download=downloaded,
        timezone="Asia/Shanghai",
    )
    assert problems == [] and imported.skew_s == -90
    assert [s.scanned_at for s in imported.scans] == [TOUCHED, TOUCHED + timedelta(minutes=6)]
