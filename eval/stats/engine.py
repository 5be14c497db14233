"""Success-rate statistics of policy evaluations from their per-episode outcomes, by hierarchical bootstrap.

:class:`EpisodeBootstrap` gives, for one encoder and a set of splits (one split, or the shifts pooled for the
OOD mean): the mean success with its interval, the IQM, and each task's rate; for two encoders: the
difference of their mean success (paired on the shared episodes when both were evaluated on the same keys,
else from independent resamples) and the probability of improvement. All numbers of one design come from
the same resamples (deterministic given ``seed``), so a difference's replicates are exactly the difference
of the two encoders' replicates. Interval rules: :mod:`.estimate`; resampling: :mod:`.resample`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .aggregates import iqm, iqm_kept, mean_score, probability_of_improvement
from .episodes import EpisodeOutcomes
from .estimate import difference_interval, probability_interval, rate_interval
from .intervals import Interval, newcombe_difference, none, wilson_interval
from .resample import DEFAULT_REPLICATES, DEFAULT_SEED, Resamples, design_key, draw_for, run_rates


@dataclass(frozen=True)
class SplitSummary:
    """One encoder on one split (or the shifts pooled): mean and IQM success, and each task's rate."""

    mean: Interval
    iqm: Interval
    tasks: dict[str, Interval]
    standard_error: float  # of the mean: the standard deviation of its bootstrap replicates


@dataclass(frozen=True)
class Comparison:
    """An encoder against a baseline: the difference of mean success and P(encoder > baseline)."""

    difference: Interval
    improvement: Interval
    paired: bool
    standard_error: float  # of the difference: the standard deviation of its bootstrap replicates


class EpisodeBootstrap:
    """Hierarchical bootstrap over BC seeds and episodes (and tasks with ``over_tasks``; by default the tasks
    are fixed strata, rliable's stratified bootstrap), ``replicates`` resamples, deterministic given ``seed``."""

    def __init__(
        self, *, replicates: int = DEFAULT_REPLICATES, seed: int = DEFAULT_SEED, over_tasks: bool = False
    ) -> None:
        if replicates < 100:
            raise ValueError(f"replicates: expected >= 100 for a 95 % percentile interval, got {replicates}")
        self.replicates = replicates
        self.seed = seed
        self.over_tasks = over_tasks
        self._draws: dict[tuple, Resamples] = {}
        self._runs: dict[tuple, tuple[EpisodeOutcomes, Resamples, np.ndarray]] = {}

    def describe(self) -> str:
        tasks = "tasks resampled" if self.over_tasks else "tasks fixed (stratified)"
        return f"{self.replicates} hierarchical bootstrap resamples (seed {self.seed}; {tasks})"

    def resamples(self, outcomes: EpisodeOutcomes, *, stream: int = 0, over_tasks: bool | None = None) -> Resamples:
        over = self.over_tasks if over_tasks is None else over_tasks
        # Keyed by the evaluated keys, not the object: two encoders on the same episodes share resamples.
        key = (design_key(outcomes), outcomes.shape, outcomes.design, stream, over)
        if key not in self._draws:
            self._draws[key] = draw_for(
                outcomes, replicates=self.replicates, seed=self.seed, over_tasks=over, stream=stream
            )
        return self._draws[key]

    def _run_rates(self, outcomes: EpisodeOutcomes, split: str, resamples: Resamples) -> np.ndarray:
        """run_rates of one split, computed once per (outcomes, split, resamples) while the engine lives (the
        cache holds the objects, so their ids stay theirs)."""
        key = (id(outcomes), split, id(resamples))
        if key not in self._runs:
            self._runs[key] = (outcomes, resamples, run_rates(outcomes.split(split), resamples))
        return self._runs[key][2]

    def _stack(self, outcomes: EpisodeOutcomes, splits: Sequence[str], resamples: Resamples | None) -> np.ndarray:
        """Run rates with the splits stacked along the task axis: (P*T, S), or (B, P*T, S) when resampled."""
        if not splits:
            raise ValueError("splits: expected at least one split")
        if resamples is None:
            return np.concatenate([outcomes.split(split).mean(axis=-1) for split in splits], axis=0)
        return np.concatenate([self._run_rates(outcomes, split, resamples) for split in splits], axis=1)

    @staticmethod
    def _n(outcomes: EpisodeOutcomes, splits: Sequence[str]) -> dict[str, int]:
        return {**outcomes.n, **({"shifts": len(splits)} if len(splits) > 1 else {})}

    def summary(self, outcomes: EpisodeOutcomes, splits: Sequence[str]) -> SplitSummary:
        tasks, seeds, episodes = outcomes.shape
        units = tasks * seeds * episodes
        n = self._n(outcomes, splits)
        stacked_point = self._stack(outcomes, splits, None)
        stacked = self._stack(outcomes, splits, self.resamples(outcomes))
        common = {"n": n, "seeds": seeds, "tasks": tasks, "over_tasks": self.over_tasks}
        mean = rate_interval(float(mean_score(stacked_point)), mean_score(stacked), episodes=units, **common)
        kept = min(units, iqm_kept(stacked_point.size) * episodes)
        middle = rate_interval(float(iqm(stacked_point)), iqm(stacked), episodes=kept, **common)
        # Per task: tasks are never resampled here (a task's own interval).
        fixed = self.resamples(outcomes, over_tasks=False)
        per_split = [self._run_rates(outcomes, split, fixed) for split in splits]
        per_task = {}
        for t, task in enumerate(outcomes.tasks):
            point = float(np.mean([outcomes.split(split)[t].mean() for split in splits]))
            replicates = np.mean([runs[:, t, :].mean(axis=-1) for runs in per_split], axis=0)
            task_n = {"seeds": seeds, "episodes": episodes, **({"shifts": len(splits)} if len(splits) > 1 else {})}
            per_task[task] = rate_interval(point, replicates, episodes=seeds * episodes, n=task_n, seeds=seeds)
        spread = float(np.std(mean_score(stacked), ddof=1))
        return SplitSummary(mean=mean, iqm=middle, tasks=per_task, standard_error=spread)

    def compare(
        self,
        outcomes: EpisodeOutcomes,
        baseline: EpisodeOutcomes,
        splits: Sequence[str],
        *,
        paired: bool | None = None,
    ) -> Comparison:
        """``outcomes`` against ``baseline`` on ``splits`` (pooled). ``paired``: None pairs when both were
        evaluated on the same keys; False forces independent resamples (the unpaired bootstrap)."""
        can_pair = outcomes.pairs_with(baseline)
        paired = can_pair if paired is None else paired
        if paired and not can_pair:
            raise ValueError("paired: the two evaluations do not share their (task, seed, episode) keys")
        tasks, seeds, episodes = outcomes.shape
        units = min(tasks * seeds * episodes, int(np.prod(baseline.shape)))
        n = self._n(outcomes, splits)
        point_a, point_b = self._stack(outcomes, splits, None), self._stack(baseline, splits, None)
        difference = float(mean_score(point_a) - mean_score(point_b))
        improvement = float(probability_of_improvement(point_a, point_b))
        if outcomes.tasks != baseline.tasks:
            reason = "the two evaluations have different tasks"
            return Comparison(none(difference, reason, n), none(improvement, reason, n), False, math.nan)
        draws_a = self.resamples(outcomes)
        draws_b = draws_a if paired else replace(self.resamples(baseline, stream=1), tasks=draws_a.tasks)
        runs_a, runs_b = self._stack(outcomes, splits, draws_a), self._stack(baseline, splits, draws_b)
        if paired:
            discordant = sum(int((outcomes.split(s) != baseline.split(s)).sum()) for s in splits)
            bound = wilson_interval(discordant, units * len(splits))[2]  # |difference| <= P(discordant)
            degenerate = (difference - bound, difference + bound)
        else:
            counts_a, counts_b = (
                (float(mean_score(point_a)) * units, units),
                (float(mean_score(point_b)) * units, units),
            )
            degenerate = newcombe_difference(counts_a, counts_b)[1:]
        common = {"n": n, "seeds": min(seeds, baseline.shape[1]), "tasks": tasks, "over_tasks": self.over_tasks}
        replicates = mean_score(runs_a) - mean_score(runs_b)
        gap = difference_interval(
            difference,
            replicates,
            episodes=units,
            paired=paired,
            degenerate=degenerate,
            **common,
        )
        runs = tasks * seeds * len(splits)
        chance = probability_interval(
            improvement, probability_of_improvement(runs_a, runs_b), episodes=units, runs=runs, **common
        )
        spread = float(np.std(replicates, ddof=1))
        return Comparison(difference=gap, improvement=chance, paired=paired, standard_error=spread)
