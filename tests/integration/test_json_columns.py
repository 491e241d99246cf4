"""JSON columns as the engine writes and reads them (``gateway.db.engine``), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gateway.db.models import SiteRow

LOADED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _site(site_id: str, policy: dict[str, object]) -> SiteRow:
    return SiteRow(
        id=site_id,
        name="东湖 site",
        timezone="Asia/Shanghai",
        policy=policy,
        roster=[{"guard": "g-1", "note": "东门"}],
        source_digest="0" * 64,
        loaded_at=LOADED,
    )


def test_values_round_trip_and_non_finite_floats_become_null(engine: Engine) -> None:
    policy = {"device_silent_s": 600.5, "nested": {"k": [1, None, "东"]}, "bad": float("nan")}
    with Session(engine) as session, session.begin():
        session.add(_site("s1", policy))
    with Session(engine) as session:
        row = session.get(SiteRow, "s1")
        assert row is not None
        assert row.policy == {
            "device_silent_s": 600.5,
            "nested": {"k": [1, None, "东"]},
            "bad": None,
        }
        assert row.roster == [{"guard": "g-1", "note": "东门"}]
        stored = session.execute(text("SELECT policy FROM sites WHERE id = 's1'")).scalar_one()
    if engine.dialect.name == "sqlite":  # the text as written: compact UTF-8
        assert '"nested":{"k":[1,null,"东"]}' in stored


def test_text_an_earlier_version_wrote_with_nan_still_reads(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's json type never accepted NaN: no such rows exist there")
    with Session(engine) as session, session.begin():
        session.add(_site("s2", {}))
    with engine.begin() as conn:
        conn.execute(text("UPDATE sites SET policy = '{\"x\": NaN, \"y\": 2}' WHERE id = 's2'"))
    with Session(engine) as session:
        row = session.get(SiteRow, "s2")
        assert row is not None
        assert row.policy["y"] == 2
        assert row.policy["x"] != row.policy["x"]  # NaN, as the standard reader gives it
