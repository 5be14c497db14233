"""Each encoder's gain over a baseline encoder: the difference of their means, with a 95 % interval.

Policy success with both rollouts.jsonl files: the hierarchical bootstrap of the difference, paired on the
shared (task, BC seed, episode) keys when both were evaluated on them (the noise of the episode they share
cancels), else from independent resamples (:mod:`dynaflip.eval.stats.engine`). Probe rows with both
episodes.json files, scored on the same test episodes with the same probe seeds: the paired bootstrap over
test episodes (within each task) and probe seeds, one set of draws applied to both encoders
(:func:`dynaflip.eval.probe.sums.paired_difference`); a split's number and the OOD mean are recomputed per draw
as the tables compute them (the median row, or the mean over probes; the mean over shifts). Otherwise the two
recorded intervals combined, their half-widths added in quadrature on each side, low = d - sqrt((a - a_low)^2 +
(b_high - b)^2) and high = d + sqrt((a_high - a)^2 + (b - b_low)^2), the interval of a difference of
independent estimates. Never a t interval over seeds alone: with a handful of test episodes, the episodes,
not the probe seeds, carry most of the uncertainty, and per-seed differences cannot see them. No interval
where a side has none or the draws never vary. Intervals stay within the difference's bounds (e.g. [-1, 1] for
success).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..probe.sums import EpisodeSums, paired_difference, why_not_paired
from ..results import ID_SPLIT
from ..stats import Comparison
from .collect import ResultFile
from .summary import HEADLINE_GROUPS, OOD_SPLIT, SUMMARY_GROUPS, Cell, bounds, splits_of

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


def probe_terms(file: ResultFile, *, metric: str, split: str) -> list[tuple[str, float]] | None:
    """The episodes.json rows (and weights) whose weighted sum is the table's number for ``split`` (as
    :func:`.summary.split_cell` and :func:`.summary.ood_cell` make it); None when a row lacks its sums."""
    if split == OOD_SPLIT:
        shifts = [s for s in splits_of(file, metric) if s != ID_SPLIT]
        parts = [probe_terms(file, metric=metric, split=s) for s in shifts]
        parts = [part for part in parts if part]
        if not parts or len(parts) < len(shifts):
            return None
        return [(key, weight / len(parts)) for part in parts for key, weight in part]
    rows = [row for row in file.rows if row.metric == metric and row.split == split]
    for group in HEADLINE_GROUPS:
        if any(row.group == group for row in rows):
            return [(f"{group}/{split}/{metric}", 1.0)]
    groups = [row.group for row in rows if row.group not in SUMMARY_GROUPS and math.isfinite(row.mean)]
    return [(f"{group}/{split}/{metric}", 1.0 / len(groups)) for group in groups] or None


def paired_probe_gain(
    first: EpisodeSums,
    second: EpisodeSums,
    terms: list[tuple[str, float]],
    *,
    metric: str,
    samples: int,
    seed: int,
) -> Gain | str:
    """The paired bootstrap gain of ``terms`` (:func:`probe_terms`), or why the two runs cannot be paired."""
    for key, _ in terms:
        reason = why_not_paired(first, second, key)
        if reason:
            return reason
    difference = paired_difference(first, second, terms, samples=samples, seed=seed)
    return _clip(Gain(difference.estimate, difference.low, difference.high, difference.method, difference.n), metric)


def gain(cell: Cell, baseline: Cell, *, metric: str = "", paired: Gain | None = None) -> Gain:
    """``cell`` minus ``baseline``: ``paired`` when given (the probe's paired bootstrap), else the recorded
    intervals combined in quadrature."""
    if paired is not None:
        return paired
    difference = cell.mean - baseline.mean
    if not (cell.has_interval and baseline.has_interval):
        return Gain(difference, math.nan, math.nan, "no interval: a side has none")
    below = math.hypot(cell.mean - cell.low, baseline.high - baseline.mean)
    above = math.hypot(cell.high - cell.mean, baseline.mean - baseline.low)
    return _clip(Gain(difference, difference - below, difference + above, COMBINED), metric)
