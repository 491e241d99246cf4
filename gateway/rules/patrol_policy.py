"""The limits of the patrol and attendance rules, overridable per site like ``SitePolicy``.

They live beside ``SitePolicy`` rather than in it so the presence rules' policy stays as it is;
a site file's ``policy`` mapping may override fields of either (see ``docs/site-file.md``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PATROL_POLICY_FIELDS", "PatrolPolicy", "patrol_policy"]


@dataclass(frozen=True, slots=True)
class PatrolPolicy:
    """Patrol and attendance limits for one site; durations in seconds."""

    clock_in_grace_s: float = 15 * 60
    """No check-in this long after the shift starts raises ``alert.late_clock_in``."""
    scan_debounce_s: float = 10
    """Reads of the same tag this close together are one scan (a tag held against a reader is
    read again and again)."""
    patrol_late_tolerance_s: float = 5 * 60
    """A checkpoint scanned this long after its window ended still counts, marked ``late``."""
    wand_download_wait_s: float = 12 * 60 * 60
    """How long after a checkpoint's window (and tolerance) ran out its guard's offline wand
    may be downloaded before the checkpoint is judged on what is in without it."""


PATROL_POLICY_FIELDS = frozenset(f.name for f in dataclasses.fields(PatrolPolicy))
"""The names a site file's ``policy`` may use for these limits."""


def patrol_policy(overrides: Mapping[str, Any]) -> PatrolPolicy:
    """The defaults with a site's overrides applied; names of other policies are ignored."""
    return PatrolPolicy(**{k: float(v) for k, v in overrides.items() if k in PATROL_POLICY_FIELDS})
