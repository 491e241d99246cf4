"""Short texts from failures: an exception in one log line, a counter name from a reason.

Both keep what they return small and free of input values: a batch's parameters would make a
log line thousands of characters long, and a value in a counter name would let a sender mint
counters at will.
"""

from __future__ import annotations

import re

__all__ = ["describe_error", "reason_key"]

# A Python repr of a string: its quote escaped inside (``'a\\'b'``), so the whole value goes.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def describe_error(exc: BaseException) -> str:
    """An exception in one line, without SQLAlchemy's statement and parameters (a batch's
    values would make it thousands of characters long)."""
    text = str(getattr(exc, "orig", None) or exc).splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def reason_key(reason: str) -> str:
    """A counter name from a reject reason: its first words, lower-case, underscores.

    Details after ``:``, ``(`` or ``,`` (values, checksums) are left out so one kind of problem
    makes one counter: ``checksum mismatch (frame says 7d, computed 03)`` → ``checksum_mismatch``.
    """
    head = re.split(r"[:(,]", reason[:200], maxsplit=1)[0]  # the first words are enough
    # Quoted parts are the offending input: left out, or a sender could mint counters at will.
    # A quote left open (a value cut by the split, or a prose apostrophe) ends the name too.
    head = _QUOTED.sub(" ", head)
    head = re.split(r"['\"\\]", head, maxsplit=1)[0].lower()
    words = ["".join(c for c in w if c.isalnum() or c in "_-") for w in head.split()]
    # Numbers are values too (lengths, ids); the words around them name the problem.
    named = [w for w in words if w and not any(c.isdigit() for c in w)]
    return "_".join(named[:4]) or "unknown"
