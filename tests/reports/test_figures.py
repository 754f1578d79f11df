"""The study's figures as SVG: what stays vector, what becomes one image, and why.

Real matplotlib output, read back as text (no PDF: a figure alone is fast to check).
"""

from __future__ import annotations

import numpy as np

from registry.reports.figures import schoenfeld_svg


def _residuals(n: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(7)
    return list(rng.uniform(0, 365, n)), list(rng.normal(0, 1, n))


def test_many_residuals_are_one_image_and_the_rest_stays_vector_text():
    # at 100x ~2,800 points: a vector marker each cost WeasyPrint 2-3 s of the study PDF
    times, scaled = _residuals(1_000)
    svg = schoenfeld_svg(times, scaled, beta=0.2, horizon=365)
    assert svg.count("<image") == 1 and svg.count("<use") < 50  # the legend's, the ticks'
    assert "Days since the index day" in svg and "running mean of 100 events" in svg
    assert svg == schoenfeld_svg(times, scaled, beta=0.2, horizon=365)  # rebuilt: same bytes


def test_a_few_residuals_stay_vector_markers():
    times, scaled = _residuals(60)
    svg = schoenfeld_svg(times, scaled, beta=0.2, horizon=365)
    assert "<image" not in svg and svg.count("<use") >= 60
