"""``guard-gateway decode``: corpus files in, JSON lines out, rejects on the error stream."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drivers.gps.decode_cli import fix_to_dict, run_decode
from gateway.cli import main
from tests.conftest import REPO_ROOT
from tests.unit.drivers.gps.corpus_data import CORPUS, FRAMES, OWNTRACKS

RECEIVED = datetime(2026, 3, 1, tzinfo=UTC)
KEYS = {
    "device_id",
    "fix_time",
    "lat",
    "lon",
    "accuracy_m",
    "speed_mps",
    "course_deg",
    "altitude_m",
    "satellites",
    "alarms",
    "battery_pct",
}


def run(
    fmt: str, data: bytes, device: str | None = None
) -> tuple[int, list[dict[str, Any]], list[str]]:
    out, err = io.StringIO(), io.StringIO()
    code = run_decode(fmt, data, RECEIVED, out, err, device_id=device)
    return (
        code,
        [json.loads(line) for line in out.getvalue().splitlines()],
        err.getvalue().splitlines(),
    )


def test_nmea_log_prints_one_fix_per_epoch_and_rejects_on_err() -> None:
    code, fixes, errors = run("nmea", (CORPUS / "nmea/gpsd/tcp-test.log").read_bytes(), "gps-7")
    assert code == 0
    assert fixes == [
        {
            "device_id": "gps-7",
            "fix_time": "2007-12-23T19:32:21Z",
            "lat": fixes[0]["lat"],
            "lon": fixes[0]["lon"],
            "accuracy_m": 8.5,
            "speed_mps": fixes[0]["speed_mps"],
            "course_deg": 201.8,
            "altitude_m": -30.4,
            "satellites": 4,
            "alarms": [],
            "battery_pct": None,
        }
    ]
    assert abs(fixes[0]["lat"] - 20.628798333) < 1e-8
    assert len(errors) == 1 and "checksum" not in errors[0] and "garbage" in errors[0]


def test_jt808_hex_lines_each_decode_and_sos_is_listed() -> None:
    data = "\n".join(["# corpus frames", FRAMES[19]["frame_hex"], FRAMES[34]["frame_hex"]])
    code, fixes, errors = run("jt808", data.encode())
    assert code == 0 and errors == []
    (fix,) = fixes
    assert set(fix) == KEYS
    assert fix["alarms"] == ["sos"]
    assert fix["device_id"] == "112233445566"
    assert fix["fix_time"] == "2018-07-15T02:10:10Z"


def test_jt808_binary_stream_is_framed_as_one_payload() -> None:
    data = b"".join(bytes.fromhex(f["frame_hex"]) for f in FRAMES[29:33])
    code, fixes, _ = run("jt808", data)
    assert code == 0
    assert len(fixes) == 1 + 1 + 1 + 4


def test_only_rejects_exit_1_with_reason_and_truncated_hex() -> None:
    code, fixes, errors = run("jt808", FRAMES[28]["frame_hex"].encode())
    assert (code, fixes) == (1, [])
    (line,) = errors
    assert "checksum mismatch" in line
    assert FRAMES[28]["frame_hex"][:128] in line and line.endswith("bytes)")


def test_empty_input_and_non_position_messages_exit_0() -> None:
    assert run("json", b"")[0] == 0
    assert run("jt808", FRAMES[34]["frame_hex"].encode()) == (0, [], [])


def test_owntracks_lines_as_printed_by_mosquitto_sub_take_the_device_from_the_topic() -> None:
    lines = [f"{s['mqtt_topic']} {s['payload_text']}" for s in OWNTRACKS if "mqtt_topic" in s]
    code, fixes, errors = run("owntracks", "\n".join(lines).encode())
    assert code == 0 and errors == []
    assert [f["device_id"] for f in fixes] == ["jane/nokia", "jane/phone"]
    assert fixes[1]["battery_pct"] is None


def test_json_document_and_json_lines_are_both_read() -> None:
    doc = {"fixes": [{"time": 1772324130, "lat": 30.5, "lon": 114.3}] * 2}
    assert len(run("json", json.dumps(doc, indent=2).encode(), "T-1")[1]) == 2
    lines = b'{"time": 1772324130, "lat": 30.5, "lon": 114.3}\nnot json\n'
    code, fixes, errors = run("json", lines, "T-1")
    assert (code, len(fixes), len(errors)) == (0, 1, 1)


def test_fix_to_dict_has_exactly_the_shared_keys() -> None:
    from drivers.gps.jt808.codec import Jt808Codec

    (fix,) = Jt808Codec().decode(FRAMES[36]["frame_hex"].encode(), RECEIVED).fixes
    shape = fix_to_dict(fix)
    assert set(shape) == KEYS
    assert shape["fix_time"] == "2017-01-17T02:05:42Z"
    assert json.dumps(shape)


def test_nmea_log_without_a_device_names_it_by_the_id_before_dollar_else_unknown() -> None:
    # No corpus log has a tracker id before '$': one is written by hand before real sentences.
    log = (CORPUS / "nmea/gpsd/tcp-test.log").read_text().splitlines()
    rmc = next(line for line in log if line.startswith("$GPRMC"))
    code, fixes, errors = run("nmea", f"865067020012345{rmc}\n{rmc}\n".encode())
    assert code == 0 and errors == []
    assert [f["device_id"] for f in fixes] == ["865067020012345", "unknown"]
    code, _, errors = run("nmea", f"865067020012345{rmc}\n".encode(), "gps-7")
    assert code == 1
    assert errors[0].startswith(
        "rejected [gps-7]: device id mismatch: "
        "sentence names '865067020012345', topic names 'gps-7'"
    )


def test_owntracks_file_without_topics_names_devices_by_tid_and_states_each_non_location() -> None:
    lines = [s["payload_text"].replace("\n", " ") for s in OWNTRACKS]
    code, fixes, errors = run("owntracks", "\n".join(lines).encode())
    assert code == 0
    assert [f["device_id"] for f in fixes] == ["j1", "JJ"]
    (line,) = errors
    assert line.startswith("rejected [j1]: OwnTracks transition: not a location report: ")
    code, fixes, errors = run("owntracks", lines[2].encode())
    assert (code, fixes, len(errors)) == (1, [], 1)


def test_sos_without_a_position_is_printed_as_an_alarm_line_and_fixes_keep_their_shape() -> None:
    lines = [
        '{"time": "2026-03-01T08:15:30+08:00", "alarms": ["sos"], "battery_pct": 41}',
        '{"time": 1772324130, "lat": 30.5, "lon": 114.3}',
    ]
    code, records, errors = run("json", "\n".join(lines).encode(), "T-1")
    assert (code, errors) == (0, [])
    alarm, fix = records
    assert alarm == {
        "kind": "alarm",
        "device_id": "T-1",
        "alarm_time": "2026-03-01T00:15:30Z",
        "alarms": ["sos"],
        "lat": None,
        "lon": None,
        "battery_pct": 41,
    }
    assert set(fix) == KEYS


def test_an_alarm_alone_is_not_a_failure_and_a_lost_sos_is() -> None:
    assert run("json", b'{"time": 1772324130, "alarms": ["sos"]}', "T-1")[0] == 0
    code, records, errors = run("json", b'{"time": 1772324130, "alarms": ["sos"]}')
    assert (code, records) == (1, [])
    assert errors[0].startswith("rejected: SOS not raised: no device id")


def test_a_file_that_cannot_be_read_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "capture.nmea"
    assert main(["decode", "--format", "nmea", str(missing)]) == 2
    assert capsys.readouterr() == (
        "",
        f"guard-gateway: cannot read {missing}: No such file or directory\n",
    )


def test_a_reader_that_stops_reading_ends_the_command_without_a_traceback(tmp_path: Path) -> None:
    # ``guard-gateway decode big.log | head``: head exits after its lines, the pipe breaks.
    log = (CORPUS / "nmea/gpsd/tcp-test.log").read_bytes()
    capture = tmp_path / "long.nmea"
    capture.write_bytes(log * 2000)  # far more output than a pipe holds
    command = [sys.executable, "-m", "gateway.cli", "decode", "--format", "nmea", str(capture)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT
    ) as decoding:
        assert decoding.stdout is not None and decoding.stderr is not None
        first = decoding.stdout.readline()
        decoding.stdout.close()
        err = decoding.stderr.read().decode()
        code = decoding.wait(timeout=120)
    assert json.loads(first)["fix_time"] == "2007-12-23T19:32:21Z"
    assert "Traceback" not in err and "BrokenPipeError" not in err
    assert code == 141
