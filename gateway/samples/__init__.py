"""Sample configuration shipped with the gateway (``wuhan-site.yaml``: the reference site file)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SAMPLES_DIR", "WUHAN_SITE"]

SAMPLES_DIR = Path(__file__).resolve().parent
WUHAN_SITE = SAMPLES_DIR / "wuhan-site.yaml"
"""A residential compound in Hankou, Wuhan: six posts drawn in GCJ-02, ten guards, two leaders."""
