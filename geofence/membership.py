"""Where a fix stands relative to a post's fence, accounting for GPS accuracy."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Membership"]


class Membership(StrEnum):
    """INSIDE / OUTSIDE only when the accuracy circle plus margin is clear of the boundary."""

    INSIDE = "inside"
    OUTSIDE = "outside"
    UNCERTAIN = "uncertain"
