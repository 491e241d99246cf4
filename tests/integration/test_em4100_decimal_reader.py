"""A gate card reader set to 10-digit decimal output ("8H>10D", the factory setting of
many 125 kHz serial readers) in front of cards the site file names by their EM4100 id.

``docs/site-file.md`` says a card or tag id is written as the EM4100 id, 10 hex digits, and
``drivers/em4100/frames.py`` promises that a site file "can name a checkpoint's tag once and
still match whatever reader output is installed" (``em4100_decimal_id``). The i-keys card of
the corpus (``tests/corpus/em4100/card_numbers.json``): EM4100 id ``0102B0A5FD``, read by a
decimal reader as ``0045131261``. Its punch must be the guard's whose card it is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from fwsim.scenario.field import FieldRunner
from gateway.bootstrap import ApiServer, build_gateway
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.lifecycle import Gateway
from gateway.outbox.tables import OutboxRow
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.integration.test_field_devices import reader_of, runner_for, wait_until

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 Asia/Shanghai


def _card(corpus: Path) -> dict[str, Any]:
    cards = json.loads((corpus / "em4100" / "card_numbers.json").read_text("utf-8"))["cards"]
    return next(c for c in cards if c["source"] == "i-keys")


def _site(tmp_path: Path, reader_url: str, card_hex: str, *others: tuple[str, str]) -> Path:
    """The gate with g-201 carrying ``card_hex``; ``others``: more guards ``(id, card)``."""
    guards = [{"id": "g-201", "name": "g-201", "pin": "2001", "cards": [card_hex]}]
    guards += [{"id": guard, "name": guard, "cards": [card]} for guard, card in others]
    site = {
        "id": "it-decimal",
        "name": "decimal gate reader",
        "posts": [
            {
                "id": "pt-gate",
                "name": "gate",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.3085, 30.5928], "radius_m": 30},
            }
        ],
        "guards": guards,
        "devices": [
            {"id": "gps-201", "kind": "gps", "guard": "g-201"},
            {
                "id": "em-gate",
                "kind": "em4100_reader",
                "post": "pt-gate",
                "url": reader_url,
                "variant": "decimal",
                "punch_kind": "check_in",
            },
        ],
        "shifts": [
            {"guard": "g-201", "post": "pt-gate", "days": "daily", "start": "08:00", "end": "20:00"}
        ],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"sites": [site]}), encoding="utf-8")
    return path


@contextmanager
def _gate(
    db_url: str, tmp_path: Path, corpus: Path, *others: tuple[str, str]
) -> Iterator[tuple[Gateway, FieldRunner]]:
    """The gate (``others``: more guards with their cards) and its decimal reader, which reads
    g-201's card a minute in, run by a gateway built as ``guard-gateway run`` builds it."""
    card = _card(corpus)
    clock = ManualClock(START)
    timeline = [{"at_s": 60, "scan": {"reader": "em-1", "tag": card["em4100_hex"]}}]
    runner = runner_for(
        timeline, clock, readers=[{"id": "em-1", "kind": "em4100", "variant": "decimal"}]
    )
    runner.open()
    engine = make_engine(db_url)
    create_schema(engine)
    site = _site(tmp_path, runner.reader_url("em-1"), card["em4100_hex"], *others)
    load_site_file(site, engine, START)
    engine.dispose()
    gateway = build_gateway(Settings(database_url=db_url), clock, with_ingest=False)
    gateway.start()
    try:
        yield gateway, runner
    finally:
        gateway.stop()
        runner.stop()


@pytest.fixture
def decimal_gate(
    db_url: str, tmp_path: Path, corpus: Path
) -> Iterator[tuple[Gateway, FieldRunner]]:
    with _gate(db_url, tmp_path, corpus) as started:
        yield started


@pytest.fixture
def shared_card_gate(
    db_url: str, tmp_path: Path, corpus: Path
) -> Iterator[tuple[Gateway, FieldRunner]]:
    """g-202's card: another customer byte, the same low 32 bits as g-201's."""
    with _gate(db_url, tmp_path, corpus, ("g-202", "FF02B0A5FD")) as started:
        yield started


def test_a_decimal_reader_punch_is_the_guards_whose_em4100_card_it_read(
    decimal_gate: tuple[Gateway, FieldRunner], corpus: Path
) -> None:
    gateway, runner = decimal_gate
    counters = gateway.processor.counters
    assert wait_until(lambda: reader_of(gateway).stats.connected)
    assert isinstance(gateway.clock, ManualClock)
    gateway.clock.advance(60)
    assert runner.run_until() == 1
    assert wait_until(lambda: counters.get("punches.stored") == 1)
    assert gateway.runtime.wait_idle()
    with Session(gateway.engine) as session:
        rows = session.execute(select(OutboxRow.type, OutboxRow.body).order_by(OutboxRow.seq))
        events = {kind: json.loads(body)["data"] for kind, body in rows}
    assert "attendance.unknown_person" not in events, events.get("attendance.unknown_person")
    data = events["attendance.punch"]
    assert data["person_id"] == _card(corpus)["decimal_10"]  # what the reader sent
    assert data["guard_id"] == "g-201"


def test_a_card_two_guards_share_in_decimal_is_counted_and_logged_as_ambiguous(
    shared_card_gate: tuple[Gateway, FieldRunner], caplog: pytest.LogCaptureFixture
) -> None:
    """Before, the punch counted as an unknown person, and nothing said why the card failed."""
    gateway, runner = shared_card_gate
    caplog.set_level(logging.WARNING, logger="gateway.pipeline.unnamed_reads")
    api = ApiServer(gateway.app)
    url = api.start()
    try:
        assert wait_until(lambda: reader_of(gateway).stats.connected)
        assert isinstance(gateway.clock, ManualClock)
        gateway.clock.advance(60)
        assert runner.run_until() == 1
        counters = gateway.processor.counters
        assert wait_until(lambda: counters.get("punches.stored") == 1)
        assert gateway.runtime.wait_idle()
        health = httpx.get(f"{url}/health", timeout=10).json()["counters"]
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        api.stop()
    assert (health.get("punches.ambiguous_read"), health.get("punches.unknown_person")) == (1, None)
    assert 'guard_gateway_punches_total{outcome="ambiguous_read"} 1.0' in metrics
    [logged] = [r.getMessage() for r in caplog.records if r.name.endswith("unnamed_reads")]
    assert logged == (
        "decimal read '0045131261' by em-gate names nobody: it may be guard 'g-201', guard"
        " 'g-202' (they share that decimal form; give one another tag or card)"
    )
