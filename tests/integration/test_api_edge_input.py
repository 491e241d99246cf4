"""Bad input at the API's edge gets a 4xx naming the problem, never a 500 and never a row:
NUL characters (PostgreSQL refuses them in text), ids longer than their columns, ``'¹'`` and
20-digit alert numbers, dates in year 1 or 9999, periods ending before they start, bodies over
the limit (declared or chunked). Over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import LeaveRow, ReportRow
from tests.e2e.helpers import DAY_START, load_sample_site
from tests.fixtures.api_server import api_over_http

LIMIT = 2100


@pytest.fixture
def http(engine: Engine) -> Iterator[httpx.Client]:
    load_sample_site(engine)
    clock = ManualClock(DAY_START)
    with api_over_http(engine, clock, max_body_bytes=LIMIT) as client:
        yield client


def problems(answer: httpx.Response) -> list[tuple[str, str]]:
    """(field, message) of each problem of a 422."""
    assert answer.status_code == 422, answer.text
    return [(str(p["loc"][-1]), p["msg"]) for p in answer.json()["detail"]]


def stored(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        reports = session.scalar(select(func.count()).select_from(ReportRow))
        leaves = session.scalar(select(func.count()).select_from(LeaveRow))
        return int(reports or 0), int(leaves or 0)


NUL_MESSAGE = "Value error, must not contain NUL characters (U+0000)"


@pytest.mark.parametrize("field", ["guard_id", "destination", "reason", "reported_to"])
def test_a_nul_in_any_string_of_a_report_is_422_naming_the_field(
    http: httpx.Client, engine: Engine, field: str
) -> None:
    body = {"guard_id": "g-001", field: "g-0\x0001"}
    assert problems(http.post("/reports", json=body)) == [(field, NUL_MESSAGE)]
    assert stored(engine) == (0, 0)


def test_a_nul_in_a_path_or_query_id_is_422(http: httpx.Client) -> None:
    assert problems(http.post("/leaves/ab%00cd/cancel", json={})) == [("leave_id", NUL_MESSAGE)]
    assert problems(http.get("/alerts", params={"guard_id": "g\x00"})) == [
        ("guard_id", NUL_MESSAGE)
    ]
    assert problems(http.post("/alerts/k%00/acknowledge", json={"by": "x"})) == [
        ("alert_id", NUL_MESSAGE)
    ]
    assert problems(http.post("/leaves", json=leave(approved_by="\x00"))) == [
        ("approved_by", NUL_MESSAGE)
    ]


def test_a_nul_in_a_wand_log_is_422(http: httpx.Client) -> None:
    answer = http.post(
        "/wands/w-1/downloads",
        params={"wand_clock": "2026-03-02T08:00:00+08:00"},
        content="wand_id,tag_id,time\nw-1,\x00,2026-03-02 08:00:00\n",
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == "the log must not contain NUL characters (U+0000)"


def test_ids_longer_than_their_columns_are_422(http: httpx.Client, engine: Engine) -> None:
    too_long = "g" * 65
    assert problems(http.post("/reports", json={"guard_id": too_long})) == [
        ("guard_id", "String should have at most 64 characters")
    ]
    assert problems(http.post(f"/leaves/{'x' * 37}/cancel", json={})) == [
        ("leave_id", "String should have at most 36 characters")
    ]
    assert problems(http.post(f"/wands/{'w' * 65}/downloads?wand_clock=2026-03-02T00:00Z")) == [
        ("wand_id", "String should have at most 64 characters")
    ]
    assert stored(engine) == (0, 0)


def test_alert_numbers_that_are_not_ascii_or_overflow_a_bigint_are_unknown_keys(
    http: httpx.Client,
) -> None:
    superscript = http.post("/alerts/%C2%B9/acknowledge", json={"by": "jt-leader-a"})
    huge = http.post(f"/alerts/{'9' * 20}/acknowledge", json={"by": "jt-leader-a"})
    assert [superscript.status_code, huge.status_code] == [404, 404]
    assert superscript.json()["detail"] == "unknown alert '¹'"
    assert huge.json()["detail"] == f"unknown alert '{'9' * 20}'"


def leave(**overrides: Any) -> dict[str, Any]:
    body = {
        "guard_id": "g-001",
        "starts_at": "2026-03-02T09:00:00+08:00",
        "ends_at": "2026-03-02T10:00:00+08:00",
        "approved_by": "jt-leader-a",
    }
    return {**body, **overrides}


@pytest.mark.parametrize(
    "when",
    ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00", "1999-12-31T23:59:59Z"],
)
def test_absurd_dates_are_422_saying_the_range(
    http: httpx.Client, engine: Engine, when: str
) -> None:
    expected = (
        "Value error, must lie between 2000-01-01 and 2100-01-01 (UTC), "
        f"got {when.replace('Z', '+00:00')}"
    )
    assert problems(http.post("/reports", json={"guard_id": "g-001", "reported_at": when})) == [
        ("reported_at", expected)
    ]
    assert problems(http.post("/leaves", json=leave(starts_at=when))) == [("starts_at", expected)]
    assert problems(http.post("/alerts/1/acknowledge", json={"by": "a", "at": when})) == [
        ("at", expected)
    ]
    assert problems(http.post("/leaves/x/cancel", json={"cancelled_at": when})) == [
        ("cancelled_at", expected)
    ]
    wand = http.post("/wands/w-1/downloads", params={"wand_clock": when}, content="")
    assert problems(wand) == [("wand_clock", expected)]
    assert stored(engine) == (0, 0)


def test_periods_ending_before_they_start_are_422(http: httpx.Client, engine: Engine) -> None:
    backwards = http.post("/leaves", json=leave(ends_at="2026-03-02T08:59:00+08:00"))
    assert [p["msg"] for p in backwards.json()["detail"]] == [
        "Value error, ends_at must be after starts_at"
    ]
    report = http.post(
        "/reports",
        json={
            "guard_id": "g-001",
            "reported_at": "2026-03-02T07:58:00+08:00",
            "expected_return_at": "2026-03-02T07:50:00+08:00",
        },
    )
    assert report.status_code == 422
    assert report.json()["detail"] == "expected return is before the report was made"
    assert stored(engine) == (0, 0)


def test_a_body_over_the_limit_is_413_declared_or_chunked(
    http: httpx.Client, engine: Engine
) -> None:
    big = {"guard_id": "g-001", "reason": "x" * LIMIT}
    declared = http.post("/reports", json=big)
    assert declared.status_code == 413
    assert declared.json() == {"detail": f"the request body exceeds {LIMIT} bytes"}

    def chunks() -> Iterator[bytes]:
        yield b'{"guard_id": "g-001", "reason": "'
        for _ in range(LIMIT // 512 + 1):
            yield b"y" * 512
        yield b'"}'

    chunked = http.post("/reports", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert stored(engine) == (0, 0)
    # Just under the limit is taken (the longest reason, 2,000 characters, in a body of 2,038).
    fits = http.post("/reports", json={"guard_id": "g-001", "reason": "z" * 2000})
    assert fits.status_code == 201, fits.text
    assert stored(engine) == (1, 0)
