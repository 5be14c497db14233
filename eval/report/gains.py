"""Each encoder's gain over a baseline encoder: the difference of their means, with a 95 % interval.

Policy success with both rollouts.jsonl files: the hierarchical bootstrap of the difference, paired on the
shared (task, BC seed, episode) keys when both were evaluated on them (the noise of the episode they share
cancels), else from independent resamples (:mod:`dynaflip.eval.stats.engine`). Otherwise from the
results.json rows: for probes evaluated on the same seeds, the Student-t interval of the per-seed differences
(probe seed s draws the same train/validation split for every encoder); else the two intervals combined,
their half-widths added in quadrature on each side, low = d - sqrt((a - a_low)^2 + (b_high - b)^2) and
high = d + sqrt((a_high - a)^2 + (b - b_low)^2), the interval of a difference of independent estimates.
Policy rows are never paired by BC seed (seed s of one encoder and of another share nothing but a number).
No interval where a side has none or the per-seed differences cannot measure a spread (one seed, identical
differences). Intervals stay within the difference's bounds (e.g. [-1, 1] for success).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from ..stats import Comparison, t_interval
from .summary import Cell, bounds

PAIRED_SEEDS = "paired t over seeds"
COMBINED = "combined in quadrature"


@dataclass
class Gain:
    mean: float
    low: float
    high: float
    method: str
    n: dict[str, int] = field(default_factory=dict)

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def to_json(self) -> dict:
        return asdict(self)


def _clip(gain: Gain, metric: str) -> Gain:
    low, high = bounds(metric)
    span = high - low  # a difference lies in [-span, span]
    if not math.isfinite(span):
        return gain
    clip = lambda v: min(span, max(-span, v)) if math.isfinite(v) else v  # noqa: E731
    return Gain(clip(gain.mean), clip(gain.low), clip(gain.high), gain.method, gain.n)


def from_comparison(comparison: Comparison) -> Gain:
    interval = comparison.difference
    return Gain(interval.estimate, interval.low, interval.high, interval.method, dict(interval.n))


def gain(
    cell: Cell,
    baseline: Cell,
    *,
    seeds: Sequence | None,
    baseline_seeds: Sequence | None,
    metric: str = "",
    pair_seeds: bool = True,
) -> Gain:
    """``cell`` minus ``baseline`` from recorded summaries; ``seeds`` name the repeated unit behind each cell's
    values (None: unknown); ``pair_seeds=False`` never pairs by seed (policy rows)."""
    values, base = cell.values, baseline.values
    same_seeds = seeds is not None and baseline_seeds is not None and list(seeds) == list(baseline_seeds)
    finite = all(math.isfinite(v) for v in [*values, *base])
    difference = cell.mean - baseline.mean
    if pair_seeds and same_seeds and finite and len(values) == len(base) == len(seeds) and values:
        interval = t_interval([a - b for a, b in zip(values, base, strict=True)])
        method = PAIRED_SEEDS if interval.has_interval else interval.method
        return _clip(Gain(interval.estimate, interval.low, interval.high, method, dict(interval.n)), metric)
    if not (cell.has_interval and baseline.has_interval):
        return Gain(difference, math.nan, math.nan, "no interval: a side has none")
    below = math.hypot(cell.mean - cell.low, baseline.high - baseline.mean)
    above = math.hypot(cell.high - cell.mean, baseline.mean - baseline.low)
    return _clip(Gain(difference, difference - below, difference + above, COMBINED), metric)
