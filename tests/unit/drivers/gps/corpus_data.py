"""The golden corpus files the GPS codec tests read, loaded once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[3] / "corpus"
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
