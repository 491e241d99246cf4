"""The test's reference geodesic reproduces Vincenty's published worked example."""

from __future__ import annotations

import pytest

from .geodesic import vincenty_m


def _dms(d: int, m: int, s: float) -> float:
    sign = -1 if d < 0 else 1
    return sign * (abs(d) + m / 60 + s / 3600)


def test_reference_geodesic_matches_flinders_peak_to_buninyong() -> None:
    # Geoscience Australia's worked example of Vincenty's inverse formula (GRS80, whose
    # flattening differs from WGS-84's by 1.6e-11: far below a millimetre over 55 km).
    flinders = (_dms(-37, 57, 3.72030), _dms(144, 25, 29.52440))
    buninyong = (_dms(-37, 39, 10.15610), _dms(143, 55, 35.38390))
    assert vincenty_m(*flinders, *buninyong) == pytest.approx(54972.271, abs=0.001)
