"""Intervals for small samples: Student-t intervals of means over seeds, Wilson intervals of success rates."""

from __future__ import annotations

import math
from collections.abc import Sequence

# Two-sided 95 % Student-t quantiles t_{0.975, df}; beyond 30 degrees of freedom the normal 1.96 is close.
_T975 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
    2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip


def t_quantile_975(degrees_of_freedom: int) -> float:
    if degrees_of_freedom < 1:
        raise ValueError(f"degrees_of_freedom: expected >= 1, got {degrees_of_freedom}")
    return _T975[degrees_of_freedom - 1] if degrees_of_freedom <= len(_T975) else 1.96


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high) of the 95 % t-interval of the mean; low = high = mean for one value."""
    n = len(values)
    if n == 0:
        raise ValueError("values: expected at least one value")
    mean = sum(values) / n
    if n == 1:
        return mean, mean, mean
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = t_quantile_975(n - 1) * math.sqrt(variance / n)
    return mean, mean - half, mean + half


def wilson_interval(successes: int, trials: int, *, z: float = 1.96) -> tuple[float, float, float]:
    """(rate, low, high): the Wilson score interval of a success rate (sound at 0 and 1, unlike p +- z*se)."""
    if trials <= 0:
        raise ValueError(f"trials: expected > 0, got {trials}")
    rate = successes / trials
    denominator = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / denominator
    return rate, max(0.0, centre - half), min(1.0, centre + half)
