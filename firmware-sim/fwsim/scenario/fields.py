"""Field checks shared by the scenario loader: each records a problem instead of raising, so
one run reports every mistake in a file."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["Problems", "is_number", "latlon", "number", "unknown_keys"]


class Problems:
    """Collected problems, each prefixed with its place (``where``)."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, problem: str) -> None:
        self.items.append(f"{where}: {problem}" if where else problem)


def is_number(value: object) -> bool:
    """A finite int or float, and not a bool (YAML ``true`` is not a number)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def number(
    data: Mapping[str, Any],
    key: str,
    where: str,
    problems: Problems,
    *,
    default: float | None = None,
    positive: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float | None:
    """``data[key]`` as a float within the bounds; ``default`` (and a recorded problem when the
    value is bad, or missing without a default) otherwise."""
    if key not in data:
        if default is None:
            problems.add(where, f"'{key}' is required")
        return default
    value = data[key]
    if not is_number(value):
        problems.add(where, f"'{key}' must be a number, got {value!r}")
        return default
    number = float(value)
    if positive and number <= 0:
        problems.add(where, f"'{key}' must be positive, got {value!r}")
        return default
    if minimum is not None and number < minimum:
        problems.add(where, f"'{key}' must be at least {minimum:g}, got {value!r}")
        return default
    if maximum is not None and number > maximum:
        problems.add(where, f"'{key}' must be at most {maximum:g}, got {value!r}")
        return default
    return number


def unknown_keys(data: Mapping[str, Any], allowed: frozenset[str], where: str, p: Problems) -> None:
    """Record every key of ``data`` not in ``allowed`` (typos must not pass silently)."""
    for key in data:
        if key not in allowed:
            p.add(where, f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")


def latlon(value: object, where: str, problems: Problems) -> tuple[float, float] | None:
    """A ``{lat, lon}`` mapping as a (lat, lon) pair in range, or ``None`` with a problem."""
    if not isinstance(value, Mapping):
        problems.add(where, f"must be a mapping {{lat, lon}}, got {value!r}")
        return None
    unknown_keys(value, frozenset({"lat", "lon"}), where, problems)
    lat = number(value, "lat", where, problems, minimum=-90, maximum=90)
    lon = number(value, "lon", where, problems, minimum=-180, maximum=180)
    if lat is None or lon is None:
        return None
    return lat, lon
