"""The PUSH router over HTTP: request/response with a test client, and a real uvicorn server on
127.0.0.1 talked to by the simulated PUSH terminal."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from drivers.zkteco.push_clock import pack_time
from drivers.zkteco.push_codec import TerminalConfig, zone_for
from drivers.zkteco.push_router import CommandQueue, make_push_router
from drivers.zkteco.semantics import record_key
from fwsim.zkteco.push_terminal import AttRecord, PushTerminal
from gateway.clock import ManualClock
from gateway.records import Punch, PunchKind, Rejected, VerifyMode
from tests.fixtures.asgi_server import Server

NOW = datetime(2026, 2, 7, 0, 0, 0, tzinfo=UTC)
BEIJING = zone_for("Asia/Shanghai")
SN = "0316144680030"


class Store:
    """A sink that keeps every call, counts each record_key once, and can be told to fail."""

    def __init__(self) -> None:
        self.calls: list[list[Punch]] = []
        self.by_key: dict[str, Punch] = {}
        self.failing = False
        self.lock = threading.Lock()

    def __call__(self, punches: list[Punch]) -> None:
        if self.failing:
            raise RuntimeError("database is down")
        with self.lock:
            self.calls.append(punches)
            for punch in punches:
                self.by_key.setdefault(record_key(punch), punch)


def _app(store: Store, **kwargs: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(make_push_router(sink=store, clock=ManualClock(NOW), **kwargs))
    return app


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(_app(store)) as test_client:
        yield test_client


def test_handshake_answers_the_options_block(client: TestClient) -> None:
    response = client.get("/iclock/cdata", params={"SN": SN, "options": "all", "pushver": "2.2.14"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert lines[0] == f"GET OPTION FROM: {SN}"
    assert "ATTLOGStamp=None" in lines
    assert "TimeZone=8" in lines
    assert "Realtime=1" in lines


def test_attlog_upload_is_answered_ok_with_the_line_count_after_the_sink(
    client: TestClient, store: Store
) -> None:
    body = "1\t2026-02-07 07:35:52\t0\t1\t0\t0\t0\t0\t0\t0\t\r\n2\t2026-02-07 07:40:00\t2\t4\r\n"
    response = client.post(
        "/iclock/cdata", params={"SN": SN, "table": "ATTLOG", "Stamp": "1"}, content=body
    )
    assert (response.status_code, response.text) == (200, "OK:2")
    (stored,) = store.calls
    assert [(p.person_id, p.kind, p.verify) for p in stored] == [
        ("1", PunchKind.CHECK_IN, VerifyMode.FINGERPRINT),
        ("2", PunchKind.BREAK_OUT, VerifyMode.CARD),
    ]
    assert stored[0].punched_at == datetime(2026, 2, 6, 23, 35, 52, tzinfo=UTC)
    assert stored[0].received_at == NOW


def test_other_tables_are_acknowledged_and_not_stored(client: TestClient, store: Store) -> None:
    oplog = (
        "OPLOG 4\t0\t2026-02-07 07:00:00\t0\t0\t0\t0\nOPLOG 5\t0\t2026-02-07 07:01:00\t0\t0\t0\t0\n"
    )
    response = client.post("/iclock/cdata", params={"SN": SN, "table": "OPERLOG"}, content=oplog)
    assert (response.status_code, response.text) == (200, "OK:2")
    options = client.post(
        "/iclock/cdata", params={"SN": SN, "table": "options"}, content="FingerFunOn=1"
    )
    assert options.status_code == 200
    assert store.calls == []


def test_request_without_serial_number_is_a_bad_request(client: TestClient) -> None:
    assert client.get("/iclock/cdata", params={"options": "all"}).status_code == 400


def test_sink_failure_answers_503_so_the_terminal_resends(store: Store) -> None:
    store.failing = True
    with TestClient(_app(store)) as test_client:
        response = test_client.post(
            "/iclock/cdata",
            params={"SN": SN, "table": "ATTLOG"},
            content="1\t2026-02-07 07:35:52\t0\t1\n",
        )
    assert response.status_code == 503
    assert not response.text.startswith("OK")


def test_unknown_terminal_is_refused_when_the_policy_says_so(store: Store) -> None:
    app = _app(
        store,
        terminals={"KNOWN": TerminalConfig()},
        on_unknown_terminal=lambda sn: None,
    )
    with TestClient(app) as test_client:
        refused = test_client.post(
            "/iclock/cdata",
            params={"SN": "STRANGER", "table": "ATTLOG"},
            content="1\t2026-02-07 07:35:52\t0\t1\n",
        )
        accepted = test_client.get("/iclock/cdata", params={"SN": "KNOWN"})
    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert store.calls == []


def test_configured_terminal_zone_is_used_for_its_records(store: Store) -> None:
    app = _app(store, terminals={"PARIS": TerminalConfig(timezone="Europe/Paris")})
    with TestClient(app) as test_client:
        test_client.post(
            "/iclock/cdata",
            params={"SN": "PARIS", "table": "ATTLOG"},
            content="1\t2026-02-07 07:35:52\t0\t1\n",
        )
    assert store.calls[0][0].punched_at == datetime(2026, 2, 7, 6, 35, 52, tzinfo=UTC)


def test_rejected_lines_are_reported_and_still_counted(store: Store) -> None:
    rejected: list[Rejected] = []
    with TestClient(_app(store, on_reject=rejected.append)) as test_client:
        response = test_client.post(
            "/iclock/cdata",
            params={"SN": SN, "table": "ATTLOG"},
            content="1\t2026-02-07 07:35:52\t0\t1\n2\tnot a time\t0\t1\n",
        )
    assert response.text == "OK:2"
    assert [r.raw for r in rejected] == [b"2\tnot a time\t0\t1"]
    assert len(store.calls[0]) == 1


def test_getrequest_hands_out_queued_commands_once_and_devicecmd_takes_results(
    store: Store,
) -> None:
    queue = CommandQueue()
    results: list[tuple[str, str, int | None]] = []
    app = _app(
        store,
        commands=queue,
        on_command_result=lambda sn, r: results.append((sn, r.command_id, r.return_code)),
    )
    command_id = queue.enqueue(SN, "DATA QUERY ATTLOG StartTime=2026-02-07 00:00:00")
    with TestClient(app) as test_client:
        first = test_client.get("/iclock/getrequest", params={"SN": SN})
        second = test_client.get("/iclock/getrequest.aspx", params={"SN": SN, "INFO": "Ver 2"})
        done = test_client.post(
            "/iclock/devicecmd",
            params={"SN": SN},
            content=f"ID={command_id}&Return=0&CMD=DATA\n",
        )
    # The first poll of a terminal also sets its clock (the gateway's, in Beijing time, packed).
    assert first.text == (
        f"C:time1:SET OPTION DateTime={pack_time(NOW.astimezone(BEIJING).replace(tzinfo=None))}\n"
        f"C:{command_id}:DATA QUERY ATTLOG StartTime=2026-02-07 00:00:00\n"
    )
    assert second.text == "OK"
    assert done.text == "OK"
    assert results == [(SN, command_id, 0)]


# -- a real server and the simulated terminal ---------------------------------------------


@pytest.fixture
def server(store: Store) -> Iterator[Server]:
    with Server(_app(store)) as running:
        yield running


def _records(n: int) -> list[AttRecord]:
    return [
        AttRecord(str(100 + i), datetime(2026, 2, 7, 7, 30 + i, 0), status=i % 6, verify=1)
        for i in range(n)
    ]


def test_simulated_terminal_handshakes_and_uploads_over_real_http(
    server: Server, store: Store
) -> None:
    with PushTerminal(server.url, SN, records=_records(5), batch_size=2) as terminal:
        options = terminal.handshake()
        assert options["GET OPTION FROM"] == SN
        assert options["TimeZone"] == "8"
        assert terminal.push() == 5
        assert [c.partition("=")[0] for c in terminal.poll()] == ["C:time1:SET OPTION DateTime"]
        assert terminal.poll() == []
    assert [r.acknowledged for r in terminal.results] == [2, 2, 1]
    assert len(store.by_key) == 5
    assert [p.person_id for call in store.calls for p in call] == [str(100 + i) for i in range(5)]


@pytest.mark.parametrize(
    "shape",
    [
        {"line_ending": "\r\n", "fields": 12},
        {"line_ending": "\r", "fields": 4, "trailing_separator": False},
        {"separator": "  ", "fields": 5, "bom": True, "trailing_blank_lines": 3},
        {"fields": 3, "line_ending": "\n", "trailing_blank_lines": 1},
    ],
)
def test_every_line_shape_of_the_simulator_is_stored_whole(
    server: Server, store: Store, shape: dict[str, Any]
) -> None:
    with PushTerminal(server.url, SN, records=_records(6), **shape) as terminal:
        assert terminal.push() == 6
    assert terminal.results[-1].body == "OK:6"
    stored = sorted(store.by_key.values(), key=lambda p: p.person_id)
    assert [p.kind for p in stored] == list(PunchKind)
    assert stored[0].punched_at == datetime(2026, 2, 6, 23, 30, tzinfo=UTC)


def test_duplicate_push_reaches_the_sink_twice_with_identical_record_keys(
    server: Server, store: Store
) -> None:
    """The router does not deduplicate (it keeps no state between uploads); the sink sees the
    records again and ``record_key`` is what lets it count them once."""
    with PushTerminal(server.url, SN, records=_records(3)) as terminal:
        terminal.push()
        again = terminal.repush()
    assert again.acknowledged == 3
    first, second = store.calls
    assert [record_key(p) for p in first] == [record_key(p) for p in second]
    assert len(store.by_key) == 3


def test_sink_outage_loses_nothing_the_terminal_resends_later(server: Server, store: Store) -> None:
    with PushTerminal(server.url, SN, records=_records(4), batch_size=3) as terminal:
        store.failing = True
        assert terminal.push() == 0
        assert terminal.results[-1].status_code == 503
        assert len(terminal.pending) == 4
        terminal.punch("999", datetime(2026, 2, 7, 9, 0, 0), status=1, verify=15)
        store.failing = False
        assert terminal.push() == 5
        assert terminal.pending == []
    assert sorted(p.person_id for p in store.by_key.values()) == [
        "100",
        "101",
        "102",
        "103",
        "999",
    ]


def test_a_server_that_is_not_there_keeps_records_pending() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with PushTerminal(f"http://127.0.0.1:{port}", SN, records=_records(2), timeout_s=1) as t:
        assert t.push() == 0
        assert t.results[-1].status_code is None
        assert len(t.pending) == 2


def test_unknown_terminal_is_refused_on_every_route_and_reported_not_stored(store: Store) -> None:
    reported: list[Rejected] = []
    known = {"KNOWN": TerminalConfig()}
    app = _app(store, terminals=known, on_reject=reported.append)  # no policy: refuse
    body = "1\t2026-02-07 07:35:52\t0\t1\n"
    with TestClient(app) as test_client:
        answers = [
            test_client.get("/iclock/cdata", params={"SN": "STRANGER", "options": "all"}),
            test_client.post(
                "/iclock/cdata", params={"SN": "STRANGER", "table": "ATTLOG"}, content=body
            ),
            test_client.get("/iclock/getrequest.aspx", params={"SN": "STRANGER"}),
            test_client.post("/iclock/devicecmd", params={"SN": "STRANGER"}, content="ID=1"),
            test_client.get("/iclock/ping", params={"SN": "STRANGER"}),
        ]
        known_upload = test_client.post(
            "/iclock/cdata", params={"SN": "KNOWN", "table": "ATTLOG"}, content=body
        )
    assert [(a.status_code, a.text) for a in answers] == [(403, "ERROR: unknown terminal")] * 5
    assert (known_upload.status_code, known_upload.text) == (200, "OK:1")
    assert [p.terminal_id for call in store.calls for p in call] == ["KNOWN"]
    assert [(r.reason, r.device_id) for r in reported] == [
        ("unknown terminal: serial number not in the site file", "STRANGER")
    ] * 5
    assert reported[1].raw == body.encode()


def test_policy_accepting_an_unlisted_terminal_serves_it_without_a_list(store: Store) -> None:
    zone = TerminalConfig(timezone="Europe/Paris")
    app = _app(store, on_unknown_terminal=lambda sn: zone if sn == "FROM-DB" else None)
    with TestClient(app) as test_client:
        assert test_client.get("/iclock/ping", params={"SN": "FROM-DB"}).status_code == 200
        assert test_client.get("/iclock/ping", params={"SN": "OTHER"}).status_code == 403
