"""Progress lines of long CLI work (a site load, a retention purge) on stderr, so stdout keeps
only the result a script reads. Library code takes a ``Progress`` callable (``None``: silent);
only the CLI passes one."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "stderr_progress"]

Progress = Callable[[str], None]
"""Told one line (no newline) each time a step or a batch is done."""


def stderr_progress(prefix: str, stream: TextIO | None = None) -> Progress:
    """A ``Progress`` writing ``<prefix>: <line>`` to ``stream`` (default: ``sys.stderr``, looked
    up at each line so a captured stderr gets it), flushed at once."""

    def report(line: str) -> None:
        out = stream if stream is not None else sys.stderr
        out.write(f"{prefix}: {line}\n")
        out.flush()

    return report
