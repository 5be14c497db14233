"""Intervals over the probe's real units of variation: held-out test episodes and probe seeds.

Frames of one episode are near-duplicates, so frames are not independent samples; resampling them would
overstate certainty. Each bootstrap draw instead resamples, within every task (the task list is fixed by
design), that task's test episodes with replacement, and the probe seeds with replacement. A task with n
test episodes gets n - 1 draws, each weighing n / (n - 1) (the with-replacement bootstrap of McCarthy and
Snowden, 1985): drawing n would shrink the variance of a per-task mean by (n - 1) / n, which with the few test
episodes of a probe dataset (2-4 per task) makes intervals visibly too narrow. A statistic is
recomputed from per-episode sums weighted by how often each episode was drawn, so ratios such as the skill
score are recomputed per draw, never averaged per frame. The same draws serve every probe and every split
(the OOD splits re-render the same test episodes), so the intervals of all splits are paired.

Private to the probes: ``eval/stats`` resamples policy outcomes (task x seed x episode), while a probe score is
a ratio of per-frame sums over frames clustered in episodes, so it gets this small bootstrap of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_SAMPLES = 2000
# Below these, the interval covers too rarely. Measured (tests/test_probe_scores.py's clustered study, 3 tasks,
# 2 x 200 studies): coverage of a 95 % interval 0.74 with 2 test episodes per task, 0.87-0.95 with 3, 0.90-0.94
# with 5, 0.915-0.925 with 10.
MIN_EPISODES = 8  # test episodes in all
MIN_EPISODES_PER_TASK = 3
UNDEFINED_TOLERANCE = 0.05  # resamples where a statistic is undefined (NaN) that an interval may ignore


@dataclass(frozen=True)
class ProbeBootstrap:
    """Which test episodes and probe seeds each of B draws takes, for one set of test frames."""

    episode_of_frame: np.ndarray  # (N,) index into the E test episodes
    counts: np.ndarray  # (B, E) how often each episode is drawn, times n / (n - 1) of its task
    seed_draws: np.ndarray  # (B, S) seed indices drawn (with replacement)
    reason: str | None  # why there is no interval (too few episodes), None when there is one
    per_task: tuple[int, ...] = ()  # test episodes of each task

    @property
    def n(self) -> dict[str, int]:
        """The units behind every statistic: tasks, probe seeds, test episodes per task (the fewest)."""
        return {"tasks": len(self.per_task), "seeds": self.seeds, "episodes": min(self.per_task, default=0)}

    @property
    def episodes(self) -> int:
        return self.counts.shape[1]

    @property
    def seeds(self) -> int:
        return self.seed_draws.shape[1]

    @classmethod
    def plan(
        cls, *, task: np.ndarray, episode_seed: np.ndarray, seeds: int, samples: int = DEFAULT_SAMPLES, seed: int = 0
    ) -> ProbeBootstrap:
        """Draws for test frames of (``task``, ``episode_seed``) (N,) each, and ``seeds`` probe seeds."""
        if seeds < 1 or samples < 1:
            raise ValueError(f"bootstrap: expected >= 1 seeds and samples, got {seeds} and {samples}")
        pairs = np.stack([np.asarray(task, dtype=np.int64), np.asarray(episode_seed, dtype=np.int64)], axis=1)
        unique, episode_of_frame = np.unique(pairs, axis=0, return_inverse=True)
        rng = np.random.default_rng([int(seed), 0xB007])
        counts = np.zeros((samples, len(unique)), dtype=np.float64)
        per_task = []
        for task_index in np.unique(unique[:, 0]):
            members = np.flatnonzero(unique[:, 0] == task_index)
            per_task.append(len(members))
            size = max(len(members) - 1, 1)  # n - 1 draws: an unbiased variance of a per-task mean
            drawn = rng.integers(0, len(members), size=(samples, size))
            np.add.at(counts, (np.arange(samples)[:, None], members[drawn]), len(members) / size)
        seed_draws = rng.integers(0, seeds, size=(samples, seeds))
        reason = None
        if len(unique) < MIN_EPISODES or min(per_task) < MIN_EPISODES_PER_TASK:
            reason = (
                f"n too small: {len(unique)} test episodes ({min(per_task)}-{max(per_task)} per task); an interval "
                f"needs >= {MIN_EPISODES} in all and >= {MIN_EPISODES_PER_TASK} per task"
            )
        return cls(
            episode_of_frame=episode_of_frame.reshape(-1),
            counts=counts,
            seed_draws=seed_draws,
            reason=reason,
            per_task=tuple(per_task),
        )

    def episode_sums(self, values: np.ndarray) -> np.ndarray:
        """Per-frame values (..., N) summed per episode: (..., E)."""
        membership = np.eye(self.episodes)[self.episode_of_frame]  # (N, E) one-hot
        return np.asarray(values, dtype=np.float64) @ membership

    def resampled(self, episode_sums: np.ndarray) -> np.ndarray:
        """(S, E) per-seed episode sums -> (B, S): the sums over each draw's episodes, per seed."""
        return self.counts @ np.asarray(episode_sums, dtype=np.float64).T

    def seed_mean(self, per_seed: np.ndarray) -> np.ndarray:
        """(B, S) a statistic per draw and seed -> (B,): its mean over each draw's resampled seeds."""
        return np.take_along_axis(np.asarray(per_seed, dtype=np.float64), self.seed_draws, axis=1).mean(axis=1)

    def interval(self, draws: np.ndarray, *, level: float = 0.95) -> tuple[float, float, str | None]:
        """(low, high, None): the percentile interval of the draws; or (NaN, NaN, reason) when there is
        none: too few episodes, a statistic undefined in many resamples, or resamples that never vary (an
        interval of zero width would claim a certainty the data cannot give)."""
        nan = float("nan")
        if self.reason:
            return nan, nan, self.reason
        draws = np.asarray(draws, dtype=np.float64)
        finite = draws[np.isfinite(draws)]
        if len(finite) < (1 - UNDEFINED_TOLERANCE) * len(draws):
            return nan, nan, f"undefined in {100 * (1 - len(finite) / len(draws)):.0f} % of the resamples"
        if np.ptp(finite) <= 1e-12 * max(1.0, float(np.abs(finite).max())):
            return nan, nan, f"every resample gives {finite[0]:.4g}: no variation to make an interval from"
        tail = (1 - level) / 2
        low, high = np.quantile(finite, [tail, 1 - tail])
        return float(low), float(high), None
