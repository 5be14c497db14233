"""The smallest difference in policy success a design detects at 80 % power, per comparison and split.

MDE = (z_0.975 + z_0.8) x SE = 2.80 x SE (two-sided test at 5 %), SE the standard deviation of the bootstrap
replicates of the difference in mean success (:mod:`dynaflip.eval.stats.power`). For each encoder against the
baseline, SE is that of their paired difference (on the shared (task, BC seed, episode) keys); for the
calibration runs, that of ceiling minus floor; when there is nothing to compare, sqrt(2) x the SE of each
evaluation's mean (another encoder of the same variance, unpaired: an upper bound for a paired design).
The command is ``python -m dynaflip.eval.report.power`` (:mod:`.power`). Where every resample gives the same
difference (e.g. both encoders fail every episode of a split) SE is 0 and the design's power cannot be sized
from these outcomes: the MDE is then None, shown as 'n/a (no variation)', never as 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..stats import describe_n, minimum_detectable_difference
from .policy import PolicyStatistics


@dataclass(frozen=True)
class PowerRow:
    comparison: str  # "A - B", or "A (alone)"
    split: str
    pairing: str  # paired | unpaired | "unpaired, sqrt(2) x SE of one evaluation"
    n: str
    standard_error: float  # in success-rate units
    mde: float | None  # None: no variation in the outcomes, the MDE cannot be sized


def detectable_difference(standard_error: float) -> float | None:
    """The MDE of a design with this SE, or None where SE is 0 (no variation: it cannot be sized)."""
    return minimum_detectable_difference(standard_error) if standard_error > 0 else None


def power_rows(policy: PolicyStatistics, *, splits: tuple[str, ...] | None = None) -> list[PowerRow]:
    """One row per (comparison, split): encoders against the baseline, then the instrument's range; the
    evaluations alone when there is no comparison."""
    keep = (lambda split: True) if splits is None else (lambda split: split in splits)
    rows = []
    pairs = [(f"{label} - {policy.baseline}", by_split) for label, by_split in policy.comparisons.items()]
    if policy.instrument:
        ceiling = next(label for label, role in policy.roles.items() if role == "ceiling")
        floor = next(label for label, role in policy.roles.items() if role == "floor")
        pairs.append((f"{ceiling} - {floor} (instrument range)", policy.instrument))
    for name, by_split in pairs:
        for split, item in by_split.items():
            if keep(split):
                se = item.standard_error
                pairing = "paired" if item.paired else "unpaired"
                n = describe_n(item.difference.n)
                rows.append(PowerRow(name, split, pairing, n, se, detectable_difference(se)))
    if rows:
        return rows
    for label, by_split in policy.summaries.items():
        for split, summary in by_split.items():
            if keep(split):
                se = math.sqrt(2) * summary.standard_error
                pairing = "unpaired, sqrt(2) x SE of one evaluation"
                n = describe_n(summary.mean.n)
                rows.append(PowerRow(f"{label} (alone)", split, pairing, n, se, detectable_difference(se)))
    return rows


def power_table(rows: list[PowerRow]) -> list[str]:
    lines = ["| comparison | split | n | difference | SE (points) | MDE (points) |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r.comparison} | {r.split} | {r.n} | {r.pairing} | {100 * r.standard_error:.1f} | "
        f"{'n/a (no variation)' if r.mde is None else f'{100 * r.mde:.1f}'} |"
        for r in rows
    ]
    return lines
