"""The golden corpus files the GPS codec tests read, loaded once."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[3] / "corpus"
GPSD = CORPUS / "nmea" / "gpsd"
RECEIVED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def load_json(name: str) -> Any:
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


JT808 = load_json("jt808_frames.json")
FRAMES: list[dict[str, Any]] = JT808["frames"]
PYNMEA2 = load_json("nmea/pynmea2_cases.json")
OWNTRACKS: list[dict[str, Any]] = load_json("owntracks_samples.json")


def frame_id(frame: dict[str, Any]) -> str:
    index = FRAMES.index(frame)
    source = frame["source"]
    return f"{index}-{source['repo'].split('/')[0]}-{frame['tags'][0] if frame.get('tags') else ''}"


def gpsd_sentences(log: str) -> list[str]:
    """The sentences of a gpsd test log, comment lines left out."""
    lines = (GPSD / log).read_text(encoding="ascii").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def gpsd_fix_tpvs(log: str) -> list[dict[str, Any]]:
    """gpsd's reports of a position (TPV with mode 2 or 3 and lat/lon), in order."""
    lines = (GPSD / f"{log}.chk").read_text().splitlines()
    tpvs = [json.loads(line) for line in lines if line.startswith("{")]
    return [t for t in tpvs if t.get("class") == "TPV" and t.get("mode", 0) >= 2 and "lat" in t]


def gpsd_timed_fixes(log: str) -> dict[datetime, dict[str, Any]]:
    """gpsd's last position report of each epoch it could date (the one with RMC's speed)."""
    return {datetime.fromisoformat(t["time"]): t for t in gpsd_fix_tpvs(log) if "time" in t}


def gpsd_no_fix_sentences(log: str) -> list[str]:
    """RMC/GGA/GNS sentences gpsd answers at once with a report of no position (mode 1)."""
    lines = (GPSD / f"{log}.chk").read_text().splitlines()
    marked = []
    for line, after in itertools.pairwise(lines):
        if line.startswith("$") and line[3:6] in ("RMC", "GGA", "GNS") and after.startswith("{"):
            tpv = json.loads(after)
            if tpv.get("class") == "TPV" and (tpv.get("mode", 0) < 2 or "lat" not in tpv):
                marked.append(line)
    return marked
