"""Each encoder's gain over a baseline encoder: the difference of their means, with a 95 % interval.

Paired: when both results record the same seeds and have one value per seed, the interval is the
Student-t interval of the per-seed differences (seed s of one encoder against seed s of the other: the
policy evaluation uses the same evaluation episodes for every encoder, so pairing removes the episode
noise they share). Combined otherwise: the two intervals' half-widths are added in quadrature on each
side, low = d - sqrt((a - a_low)^2 + (b_high - b)^2) and high = d + sqrt((a_high - a)^2 + (b - b_low)^2),
the interval of a difference of independent estimates (exact for normal errors and symmetric intervals).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..stats import mean_interval
from .summary import Cell

PAIRED = "paired"
COMBINED = "combined"


@dataclass
class Gain:
    mean: float
    low: float
    high: float
    method: str  # PAIRED or COMBINED
    pairs: int  # seeds paired (0 when combined)

    def to_json(self) -> dict:
        return asdict(self)


def gain(cell: Cell, baseline: Cell, *, seeds: Sequence | None, baseline_seeds: Sequence | None) -> Gain:
    """``cell`` minus ``baseline``; ``seeds`` name the repeated unit behind each cell's values (None: unknown)."""
    values, base = cell.values, baseline.values
    same_seeds = seeds is not None and baseline_seeds is not None and list(seeds) == list(baseline_seeds)
    finite = all(math.isfinite(v) for v in [*values, *base])
    if same_seeds and finite and len(values) == len(base) == len(seeds) and len(values) > 1:
        mean, low, high = mean_interval([a - b for a, b in zip(values, base, strict=True)])
        return Gain(mean=mean, low=low, high=high, method=PAIRED, pairs=len(values))
    difference = cell.mean - baseline.mean
    below = math.hypot(cell.mean - cell.low, baseline.high - baseline.mean)
    above = math.hypot(cell.high - cell.mean, baseline.mean - baseline.low)
    return Gain(mean=difference, low=difference - below, high=difference + above, method=COMBINED, pairs=0)
