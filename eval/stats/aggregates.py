"""Aggregate scores over runs (rliable, Agarwal et al. 2021), vectorised over leading (e.g. bootstrap) axes.

A *run* is one (task, BC seed): its score is its success rate over its episodes. ``runs`` arrays end in
(tasks, seeds).

- mean: the mean over tasks of the per-task mean (equal task weights).
- IQM: the interquartile mean of all runs' scores pooled over tasks, scipy.stats.trim_mean(x, 0.25): sort the
  n scores, drop floor(n / 4) at each end, average the rest. Robust to a task or seed that fails outright.
- probability of improvement P(X > Y): for each task, the fraction of (run of X, run of Y) pairs where X's
  score is higher, ties counting 1/2 (the Mann-Whitney U statistic over S_x * S_y), averaged over tasks.
"""

from __future__ import annotations

import numpy as np


def mean_score(runs: np.ndarray) -> np.ndarray:
    return runs.mean(axis=(-2, -1))


def iqm(runs: np.ndarray) -> np.ndarray:
    flat = np.sort(runs.reshape(*runs.shape[:-2], -1), axis=-1)
    cut = flat.shape[-1] // 4
    return flat[..., cut : flat.shape[-1] - cut].mean(axis=-1)


def iqm_kept(count: int) -> int:
    """How many of ``count`` scores the IQM averages."""
    return count - 2 * (count // 4)


def probability_of_improvement(runs: np.ndarray, baseline_runs: np.ndarray) -> np.ndarray:
    """P(X > Y) of ``runs`` (..., T, S_x) over ``baseline_runs`` (..., T, S_y)."""
    x, y = runs[..., :, None], baseline_runs[..., None, :]
    wins = (x > y).astype(np.float64) + 0.5 * (x == y)
    return wins.mean(axis=(-2, -1)).mean(axis=-1)
