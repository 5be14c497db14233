"""Interval estimates that say what they are: a 95 % interval with its method and sample size, or none.

Rules every interval here follows: never zero width (a sample with no spread gets no interval, or a score
interval of what was observed, see :func:`wilson_interval`), inside the metric's bounds, and NaN ends with a
plain reason ("n too small ...") where there is no interval at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

NO_INTERVAL = math.nan
CONFIDENCE = 0.95
Z_975 = 1.959963984540054  # the standard normal's 0.975 quantile

# Two-sided 95 % Student-t quantiles t_{0.975, df}; beyond 30 degrees of freedom the normal 1.96 is close.
_T975 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
    2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95 % interval; ``low``/``high`` are NaN when there is none (``method`` says why).

    ``n`` counts the units behind the estimate, e.g. {"tasks": 3, "seeds": 3, "episodes": 25} (episodes per
    task and seed) or {"seeds": 3}.
    """

    estimate: float
    low: float
    high: float
    method: str
    n: Mapping[str, int] = field(default_factory=dict)

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def width(self) -> float:
        return self.high - self.low if self.has_interval else math.nan

    def clipped(self, low: float, high: float) -> Interval:
        """The same interval with every number moved inside [low, high] (a metric's bounds)."""

        def clip(value: float) -> float:
            return value if not math.isfinite(value) else min(high, max(low, value))

        return Interval(clip(self.estimate), clip(self.low), clip(self.high), self.method, dict(self.n))

    def to_json(self) -> dict:
        return {**asdict(self), "n": dict(self.n)}


def none(estimate: float, reason: str, n: Mapping[str, int] | None = None) -> Interval:
    """No interval: ``reason`` is said where the interval would be (e.g. 'n too small (n = 1 seed)')."""
    return Interval(estimate, NO_INTERVAL, NO_INTERVAL, f"no interval: {reason}", dict(n or {}))


def interval_text(
    estimate: float,
    low: float,
    high: float,
    method: str = "",
    *,
    scale: float = 1.0,
    digits: int = 3,
    signed: bool = False,
) -> str:
    """'12.5 [3.1, 30.2]' (both ends: intervals may be asymmetric), '12.5 (n too small)' or '12.5 (no interval)'
    where there is none, 'n/a' for an undefined estimate."""
    if estimate is None or not math.isfinite(estimate):
        return "n/a"
    form = f"{'+' if signed else ''}.{digits}f"
    text = format(scale * estimate, form)
    if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
        return f"{text} [{format(scale * low, form)}, {format(scale * high, form)}]"
    return f"{text} ({'n too small' if 'n too small' in method else 'no interval'})"


def describe_n(n: Mapping[str, int]) -> str:
    """'3 tasks x 3 seeds x 25 episodes' (episodes per task and seed); singular where the count is 1."""
    parts = []
    for key, count in n.items():
        unit = key[:-1] if count == 1 and key.endswith("s") else key
        parts.append(f"{count} {unit}")
    return " x ".join(parts) if parts else "n unknown"


def t_quantile_975(degrees_of_freedom: int) -> float:
    if degrees_of_freedom < 1:
        raise ValueError(f"degrees_of_freedom: expected >= 1, got {degrees_of_freedom}")
    return _T975[degrees_of_freedom - 1] if degrees_of_freedom <= len(_T975) else 1.96


def t_interval(values: Sequence[float], *, unit: str = "seeds") -> Interval:
    """The Student-t 95 % interval of the mean of ``values`` (one value per repeated ``unit``).

    None for fewer than two values (nothing measures the spread) or for values that are all equal (a spread of
    zero measured from a handful of repeats is not a zero-width truth).
    """
    n = len(values)
    if n == 0:
        raise ValueError("values: expected at least one value")
    mean = math.fsum(values) / n
    count = {unit: n}
    if not all(math.isfinite(value) for value in values):
        return none(mean if math.isfinite(mean) else math.nan, "a value is not finite", count)
    if n < 2:
        return none(mean, f"n too small (n = 1 {unit.removesuffix('s')})", count)
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    if max(values) - min(values) <= 1e-12 * max(1.0, *(abs(v) for v in values)):  # equal up to rounding
        return none(mean, f"the {n} {unit} gave identical values: no spread to measure", count)
    half = t_quantile_975(n - 1) * math.sqrt(variance / n)
    return Interval(mean, mean - half, mean + half, f"t-interval over {n} {unit}", count)


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high) of the 95 % t-interval of the mean; low = high = NaN where there is none (one value,
    or identical values: see :func:`t_interval`)."""
    interval = t_interval(values)
    return interval.estimate, interval.low, interval.high


def wilson_interval(successes: float, trials: int, *, z: float = Z_975) -> tuple[float, float, float]:
    """(rate, low, high): the Wilson score interval of a success rate. Sound at 0 and 1, unlike p +- z*se, and
    never zero width: 25 of 25 gives [0.867, 1]."""
    if trials <= 0:
        raise ValueError(f"trials: expected > 0, got {trials}")
    rate = successes / trials
    denominator = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(max(0.0, rate * (1 - rate)) / trials + z * z / (4 * trials * trials)) / denominator
    return rate, max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(
    first: tuple[float, int], second: tuple[float, int], *, z: float = Z_975
) -> tuple[float, float, float]:
    """(difference, low, high) of two independent rates, each (successes, trials): Newcombe's method 10
    (hybrid score), the Wilson intervals' half-widths added in quadrature on each side."""
    p1, l1, u1 = wilson_interval(*first, z=z)
    p2, l2, u2 = wilson_interval(*second, z=z)
    d = p1 - p2
    return d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)
