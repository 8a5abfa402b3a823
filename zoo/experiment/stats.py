"""Intervals over seeds: how far a mean top-1 can be trusted, used by every table and by zoo pick."""

from __future__ import annotations

import math

# t(0.975, df), the two-sided 95% quantile of Student's t, for df = 1..30 (the usual 4-decimal
# table; checked against scipy.stats.t.ppf in tests/test_pick.py). Beyond 30 degrees of
# freedom `t_quantile` uses the Cornish-Fisher expansion, within 2e-6 of the exact value.
T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
Z975 = 1.959963984540054


def t_quantile(df: int) -> float:
    """t(0.975, df): half the width of a 95% interval, in standard errors."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(T975):
        return T975[df - 1]
    z = Z975  # Cornish-Fisher expansion of the t quantile around the normal one
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


def interval95(mean: float | None, std: float | None, n: int) -> tuple[float, float] | None:
    """The 95% t interval of a mean over ``n`` seeds; None with fewer than two."""
    if mean is None or std is None or n < 2:
        return None
    half = t_quantile(n - 1) * std / math.sqrt(n)
    return mean - half, mean + half


def overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    """Two intervals share a point (False when either is missing: one seed cannot be judged)."""
    return a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]
