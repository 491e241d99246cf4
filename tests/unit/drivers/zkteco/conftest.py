"""The ZKTeco golden samples (``tests/corpus/attendance_samples.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def samples(corpus: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((corpus / "attendance_samples.json").read_text("utf-8"))
    return data


@pytest.fixture
def push_sample(samples: dict[str, Any]) -> Any:
    def find(what_starts: str) -> str:
        for sample in samples["push_protocol_samples"]:
            if sample["what"].startswith(what_starts):
                text: str = sample["text"]
                return text
        raise KeyError(what_starts)

    return find
