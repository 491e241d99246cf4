"""The PUSH codec against the corpus samples, and its tolerance of real firmware's variants."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from drivers.zkteco.push_codec import (
    TerminalConfig,
    count_records,
    handshake_reply,
    parse_attlog,
    parse_devicecmd,
    parse_handshake,
    parse_info,
    query_value,
)
from gateway.errors import ConfigError
from gateway.pipeline.reasons import reason_key
from gateway.records import PunchKind, VerifyMode

RECEIVED = datetime(2026, 2, 7, 0, 0, 10, tzinfo=UTC)
Sample = Callable[[str], str]


def _query(request_line: str) -> dict[str, str]:
    target = request_line.split(" ")[1]
    return dict(parse_qsl(urlsplit(target).query))


def test_handshake_request_line_from_the_protocol_document(push_sample: Sample) -> None:
    hs = parse_handshake(_query(push_sample("handshake request line")))
    assert hs.sn == "0316144680030"
    assert (hs.options, hs.pushver, hs.language) == ("all", "2.2.14", "83")
    assert hs.pushcommkey == "4a9594af164f2b9779b59e8554b5df26"


def test_query_parameters_are_matched_whatever_their_case() -> None:
    assert parse_handshake({"sn": "A1", "Options": "all"}).sn == "A1"
    assert query_value({"Table": "ATTLOG"}, "table") == "ATTLOG"
    with pytest.raises(ValueError, match="SN"):
        parse_handshake({"options": "all"})


def test_handshake_reply_has_the_documented_keys_in_the_documented_order(
    push_sample: Sample,
) -> None:
    documented = push_sample("handshake response body").split("\n")
    ours = handshake_reply(
        "0316144680030",
        TerminalConfig(trans_flag="TransData AttLog\tOpLog\tAttPhoto\tEnrollUser\tChgUser"),
        now=RECEIVED,
    ).split("\n")
    assert ours[-1] == ""  # ends with a line break
    ours = ours[:-1]

    def key(line: str) -> str:
        return line.split(":" if line.startswith("GET OPTION") else "=", 1)[0]

    assert [key(line) for line in ours] == [key(line) for line in documented]
    assert ours[0] == documented[0] == "GET OPTION FROM: 0316144680030"
    for line in ("ATTLOGStamp=None", "OPERLOGStamp=9999", "TimeZone=8", "Realtime=1"):
        assert line in ours and line in documented
    assert "Encrypt=None" in ours


def test_handshake_reply_time_zone_follows_the_terminal_zone() -> None:
    summer = datetime(2026, 7, 1, tzinfo=UTC)
    reply = handshake_reply("X", TerminalConfig(timezone="Europe/Paris"), now=summer)
    assert "TimeZone=2\n" in reply
    india = handshake_reply("X", TerminalConfig(timezone="Asia/Kolkata"), now=summer)
    assert "TimeZone=330\n" in india  # V5.8: minutes for a zone off the hour


def test_a_misspelt_time_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Asia/Shangai"):
        TerminalConfig(timezone="Asia/Shangai")


def test_k50_attlog_body_gives_one_check_in_by_fingerprint_in_utc(push_sample: Sample) -> None:
    body = push_sample("ATTLOG body as received from a ZKTeco K50")
    batch = parse_attlog(body.encode(), terminal_id="K50", received_at=RECEIVED)
    assert batch.rejects == ()
    assert batch.processed == 1
    (punch,) = batch.punches
    assert punch.terminal_id == "K50"
    assert punch.person_id == "1"
    assert punch.punched_at == datetime(2026, 2, 6, 23, 35, 52, tzinfo=UTC)  # 07:35:52 +08:00
    assert punch.received_at == RECEIVED
    assert punch.kind is PunchKind.CHECK_IN
    assert punch.verify is VerifyMode.FINGERPRINT
    assert punch.source_format == "zkteco_push"
    assert punch.raw == body.strip()


K50_LINE = "1\t2026-02-07 07:35:52\t0\t1\t0\t0\t0\t0\t0\t0\t"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param((K50_LINE + "\r\n") * 3, id="crlf"),
        pytest.param((K50_LINE + "\r") * 3, id="cr"),
        pytest.param((K50_LINE + "\n") * 3 + "\n\n\r\n", id="trailing-blank-lines"),
        pytest.param("\ufeff" + (K50_LINE + "\n") * 3, id="bom"),
        pytest.param(("1\t2026-02-07 07:35:52\t0\t1\n") * 3, id="four-fields"),
        pytest.param(("1\t2026-02-07 07:35:52\t0\n") * 3, id="three-fields"),
        pytest.param(
            ("1\t2026-02-07 07:35:52\t0\t1\t0\t0\t0\t0\t36.5\t0\t0\tx\n") * 3, id="v58-12"
        ),
        pytest.param(("1  2026-02-07 07:35:52   0  1  0\n") * 3, id="spaces"),
        pytest.param(("1\t2026-02-07\t07:35:52\t0\t1\n") * 3, id="date-and-time-split"),
        pytest.param(("1\t2026/2/7 07:35:52\t0\t1\n") * 3, id="slashes"),
    ],
)
def test_attlog_variants_of_real_firmware_all_parse_to_the_same_punch(body: str) -> None:
    batch = parse_attlog(body.encode("utf-8"), terminal_id="T", received_at=RECEIVED)
    assert batch.rejects == ()
    assert batch.processed == 3
    assert {(p.person_id, p.punched_at, p.kind) for p in batch.punches} == {
        ("1", datetime(2026, 2, 6, 23, 35, 52, tzinfo=UTC), PunchKind.CHECK_IN)
    }


def test_each_punch_state_maps_to_its_kind_and_verify_stays_apart() -> None:
    body = "".join(f"7\t2026-02-07 08:00:0{s}\t{s}\t15\n" for s in range(6))
    batch = parse_attlog(body, terminal_id="T", received_at=RECEIVED)
    assert [p.kind for p in batch.punches] == [
        PunchKind.CHECK_IN,
        PunchKind.CHECK_OUT,
        PunchKind.BREAK_OUT,
        PunchKind.BREAK_IN,
        PunchKind.OVERTIME_IN,
        PunchKind.OVERTIME_OUT,
    ]
    assert {p.verify for p in batch.punches} == {VerifyMode.FACE}


def test_bad_lines_are_rejected_with_reasons_and_good_lines_kept() -> None:
    body = (
        "1\t2026-02-07 07:35:52\t0\t1\n"
        "\t2026-02-07 07:35:53\t0\t1\n"
        "2\tyesterday\t0\t1\n"
        "3\t2026-02-30 07:00:00\t0\t1\n"
        "4\t2026-02-07 07:36:00\t9\t1\n"
        "5\t2026-02-07 07:36:01\tx\t1\n"
        "6\n"
        "7\t2026-02-07 07:37:00\t1\tfoo\n"
    )
    batch = parse_attlog(body, terminal_id="T", received_at=RECEIVED)
    assert [p.person_id for p in batch.punches] == ["1", "7"]
    assert batch.punches[1].verify is VerifyMode.UNKNOWN
    assert batch.processed == 8
    reasons = [r.reason for r in batch.rejects]
    assert len(reasons) == 6
    assert "empty PIN" in reasons[0]
    assert "'yesterday'" in reasons[1]
    assert "2026-02-30" in reasons[2]
    assert "'9' is not 0-5" in reasons[3]
    assert "'x' is not 0-5" in reasons[4]
    assert "no time" in reasons[5]
    assert all(r.device_id == "T" for r in batch.rejects)
    assert batch.rejects[3].raw == b"4\t2026-02-07 07:36:00\t9\t1"


def test_times_are_converted_with_the_terminal_zone() -> None:
    batch = parse_attlog(
        "1\t2026-07-01 09:00:00\t0\t1\n",
        terminal_id="T",
        received_at=RECEIVED,
        zone="Europe/Paris",
    )
    assert batch.punches[0].punched_at == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)


def test_gb18030_body_is_decoded_not_refused() -> None:
    body = "1\t2026-02-07 07:35:52\t0\t1\t0\t张三\n".encode("gb18030")
    batch = parse_attlog(body, terminal_id="T", received_at=RECEIVED)
    assert len(batch.punches) == 1
    assert "张三" in batch.punches[0].raw


def test_a_large_body_gives_every_record_in_order() -> None:
    # A terminal back from a long outage uploads its whole log in one body.
    body = "".join(f"{i}\t2026-02-07 07:35:52\t0\t1\t0\t0\t0\n" for i in range(20_000)).encode()
    batch = parse_attlog(body, terminal_id="T", received_at=RECEIVED)
    assert [p.person_id for p in batch.punches] == [str(i) for i in range(20_000)]
    assert batch.rejects == ()


def test_devicecmd_results_from_the_protocol_document(push_sample: Sample) -> None:
    results = parse_devicecmd(push_sample("command result").encode())
    assert [r.command_id for r in results] == [
        "info8487",
        "info8488",
        "info8489",
        "info7464",
        "fp7464",
    ]
    assert {(r.return_code, r.command) for r in results} == {(0, "DATA")}


def test_getrequest_info_and_options_table(push_sample: Sample) -> None:
    query = _query(push_sample("device status upload via getrequest"))
    assert query["SN"] == "0316144680030"
    info = parse_info(query["INFO"])
    assert info[0] == "Ver 2.0.12-20150625"
    assert info[4] == "192.168.16.27"
    assert count_records(push_sample("options push body")) == 1


def test_a_blank_pin_in_a_space_padded_line_is_refused_not_read_from_the_next_field() -> None:
    # Split on runs of spaces, the empty PIN field vanishes: the date would be read as the PIN.
    body = "   2026-02-07 07:35:52   0   1\n1001   2026-02-07 07:36:00   0   1\n"
    batch = parse_attlog(body, terminal_id="T", received_at=RECEIVED)
    assert [p.person_id for p in batch.punches] == ["1001"]
    assert [(r.reason, r.device_id) for r in batch.rejects] == [
        ("blank PIN: the ATTLOG line has an empty PIN field", "T")
    ]
    assert reason_key(batch.rejects[0].reason) == "blank_pin"
