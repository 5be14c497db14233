"""The smallest difference a design can detect: MDE = (z_{1 - alpha/2} + z_{power}) * SE.

SE is the standard error of the estimated difference, measured as the standard deviation of its bootstrap
replicates (paired on the shared episodes where the evaluations share them). With a two-sided test at level
alpha = 0.05 and power 0.8 the factor is 1.960 + 0.842 = 2.80: a true difference of MDE is declared
significant in 80 % of repeated studies of the same design (normal approximation, SE taken as known and the
same under the alternative).
"""

from __future__ import annotations

import math
from statistics import NormalDist

ALPHA = 0.05
POWER = 0.8


def mde_factor(*, alpha: float = ALPHA, power: float = POWER) -> float:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power: expected in (0, 1), got {alpha} and {power}")
    normal = NormalDist()
    return normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(power)


def minimum_detectable_difference(standard_error: float, *, alpha: float = ALPHA, power: float = POWER) -> float:
    """The MDE for a difference estimated with ``standard_error`` (NaN stays NaN)."""
    if not math.isfinite(standard_error):
        return math.nan
    return mde_factor(alpha=alpha, power=power) * standard_error
