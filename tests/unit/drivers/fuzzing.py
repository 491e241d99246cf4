"""Shared settings and checks of the codec fuzz tests (``test_fuzz_*.py``).

The suite runs ``FUZZ_EXAMPLES`` examples per property (200 by default) so it stays fast. For a
longer campaign raise it with an environment variable, for example::

    GATEWAY_FUZZ_EXAMPLES=20000 .venv/bin/pytest -q -p no:cacheprovider tests/unit/drivers -k fuzz

A failure prints the smallest input hypothesis found; add it as a plain test beside the fix.
A campaign at 10,000 examples per property (47 properties, the JT/T 808 frame one excepted)
took 11 minutes and found nothing beyond what these tests already pin down.
"""

from __future__ import annotations

import math
import os
from datetime import datetime

from hypothesis import HealthCheck, settings

from gateway.records import AlarmSignal, DecodeOutcome, PositionFix, Rejected

FUZZ_EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "200"))

fuzz_settings = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def assert_well_formed_fix(fix: PositionFix) -> None:
    assert math.isfinite(fix.lat) and -90.0 <= fix.lat <= 90.0, fix
    assert math.isfinite(fix.lon) and -180.0 <= fix.lon <= 180.0, fix
    assert not (fix.lat == 0.0 and fix.lon == 0.0), fix
    assert is_aware(fix.fix_time) and is_aware(fix.received_at), fix
    assert fix.device_id, fix
    fix.device_id.encode("utf-8")  # storable
    fix.raw.encode("utf-8")
    for value in (fix.accuracy_m, fix.speed_mps, fix.course_deg, fix.altitude_m, fix.battery_pct):
        assert value is None or math.isfinite(value), fix


def assert_well_formed_alarm(signal: AlarmSignal) -> None:
    assert is_aware(signal.alarm_time) and is_aware(signal.received_at), signal
    assert signal.device_id, signal
    signal.device_id.encode("utf-8")
    if signal.lat is not None or signal.lon is not None:
        assert signal.lat is not None and signal.lon is not None
        assert math.isfinite(signal.lat) and -90.0 <= signal.lat <= 90.0, signal
        assert math.isfinite(signal.lon) and -180.0 <= signal.lon <= 180.0, signal


def assert_well_formed_reject(reject: Rejected) -> None:
    assert isinstance(reject.reason, str) and reject.reason, reject
    assert isinstance(reject.raw, bytes), reject


def assert_well_formed(outcome: DecodeOutcome) -> None:
    for fix in outcome.fixes:
        assert_well_formed_fix(fix)
    for signal in outcome.alarms:
        assert_well_formed_alarm(signal)
    for reject in outcome.rejects:
        assert_well_formed_reject(reject)
