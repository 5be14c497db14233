"""Policy success from the episodes: every number and interval of the policy tables, from rollouts.jsonl.

For each encoder whose results have a usable rollouts.jsonl: per split (and the shifts pooled for the OOD
mean) the mean success, the IQM and each task's rate; for each encoder that is neither a calibration run nor
the baseline, the difference in mean success to the baseline (paired on the shared (task, BC seed, episode)
keys when both were evaluated on them) and the probability of improvement; for the calibration runs, the
instrument's range (ceiling minus floor), paired the same way. Method: :mod:`dynaflip.eval.stats.engine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..results import ID_SPLIT
from ..stats import Comparison, EpisodeBootstrap, EpisodeOutcomes, Interval, SplitSummary
from .collect import POLICY_KIND, EncoderResults
from .summary import OOD_SPLIT, Cell

CEILING, FLOOR = "ceiling", "floor"


def split_groups(outcomes: EpisodeOutcomes) -> dict[str, list[str]]:
    """Report split -> the evaluated splits it pools: each split alone, and the shifts for the OOD mean."""
    groups = {split: [split] for split in sorted(outcomes.splits, key=lambda split: split != ID_SPLIT)}
    shifts = [split for split in outcomes.splits if split != ID_SPLIT]
    if len(outcomes.splits) > 1 and shifts:
        groups[OOD_SPLIT] = shifts
    return groups


def interval_cell(interval: Interval, *, values: Sequence[float] = ()) -> Cell:
    return Cell(interval.estimate, interval.low, interval.high, list(values), interval.method, dict(interval.n))


@dataclass
class PolicyStatistics:
    """Everything the report shows about policy success, by encoder label and report split."""

    bootstrap: EpisodeBootstrap
    outcomes: dict[str, EpisodeOutcomes] = field(default_factory=dict)
    summaries: dict[str, dict[str, SplitSummary]] = field(default_factory=dict)
    comparisons: dict[str, dict[str, Comparison]] = field(default_factory=dict)  # against the baseline
    instrument: dict[str, Comparison] = field(default_factory=dict)  # ceiling against floor
    roles: dict[str, str] = field(default_factory=dict)  # label -> ceiling | floor
    notes: dict[str, str] = field(default_factory=dict)  # label -> where its numbers come from when not episodes
    baseline: str | None = None

    def cells(self) -> dict[str, dict[str, Cell]]:
        """cells[label][split]: the mean success with its interval, per-seed rates as values."""
        out = {}
        for label, by_split in self.summaries.items():
            outcomes = self.outcomes[label]
            groups = split_groups(outcomes)
            out[label] = {
                split: interval_cell(
                    summary.mean,
                    values=sum(outcomes.split(s).mean(axis=(0, 2)) for s in groups[split]) / len(groups[split]),
                )
                for split, summary in by_split.items()
            }
        return out


def _compare(
    bootstrap: EpisodeBootstrap, outcomes: EpisodeOutcomes, baseline: EpisodeOutcomes
) -> dict[str, Comparison]:
    mine, theirs = split_groups(outcomes), split_groups(baseline)
    return {
        split: bootstrap.compare(outcomes, baseline, pooled)
        for split, pooled in mine.items()
        if theirs.get(split) == pooled
    }


def policy_statistics(
    encoders: Sequence[EncoderResults], *, baseline: EncoderResults | None, bootstrap: EpisodeBootstrap
) -> PolicyStatistics:
    stats = PolicyStatistics(bootstrap=bootstrap, baseline=baseline.label if baseline else None)
    for encoder in encoders:
        file = encoder.files.get(POLICY_KIND)
        if file is None:
            continue
        if encoder.role:
            stats.roles[encoder.label] = encoder.role
        episodes = file.episodes
        if episodes is None or episodes.outcomes is None:
            note = episodes.note if episodes else "no rollouts.jsonl"
            stats.notes[encoder.label] = f"{note}: intervals as recorded in results.json"
            continue
        if episodes.note:
            stats.notes[encoder.label] = episodes.note
        stats.outcomes[encoder.label] = episodes.outcomes
        stats.summaries[encoder.label] = {
            split: bootstrap.summary(episodes.outcomes, pooled)
            for split, pooled in split_groups(episodes.outcomes).items()
        }
    base = stats.outcomes.get(stats.baseline) if stats.baseline else None
    if base is not None:
        for label, outcomes in stats.outcomes.items():
            if label != stats.baseline and label not in stats.roles:
                stats.comparisons[label] = _compare(bootstrap, outcomes, base)
    ceilings = [label for label, role in stats.roles.items() if role == CEILING and label in stats.outcomes]
    floors = [label for label, role in stats.roles.items() if role == FLOOR and label in stats.outcomes]
    if ceilings and floors:
        stats.instrument = _compare(bootstrap, stats.outcomes[ceilings[0]], stats.outcomes[floors[0]])
    return stats
