"""From bootstrap replicates to an :class:`Interval`: the 95 % percentile interval, with the rules that keep it
honest.

- n too small: fewer than :data:`MIN_EPISODES` episodes behind the number (or, when resampling tasks, fewer than
  :data:`MIN_TASKS_TO_RESAMPLE` tasks) gives no interval, said plainly.
- A success rate's interval is at least its Wilson interval over the episodes behind it (the interval if every
  episode were independent; clustering in seeds only widens it). This keeps it off zero width when every
  episode succeeded (or failed) and fixes the percentile bootstrap's under-coverage near 0 and 1.
- A difference or a probability whose every resample is the same number (no discordant episode, complete
  separation) would get a zero-width interval; it gets the score bound of what was observed instead.
- Every interval stays inside the metric's bounds: the percentile interval of a bounded statistic does, and the
  score intervals are clipped.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .intervals import CONFIDENCE, Interval, none, wilson_interval

MIN_EPISODES = 10
MIN_TASKS_TO_RESAMPLE = 5


def too_small(*, episodes: int, tasks: int = 1, over_tasks: bool = False) -> str | None:
    """Why there is no interval for a number behind ``episodes`` episodes, or None when there is one."""
    if episodes < MIN_EPISODES:
        return f"n too small ({episodes} episode{'s' * (episodes != 1)}; at least {MIN_EPISODES})"
    if over_tasks and tasks < MIN_TASKS_TO_RESAMPLE:
        return f"n too small to resample tasks ({tasks}; at least {MIN_TASKS_TO_RESAMPLE})"
    return None


def percentile(replicates: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return float(low), float(high)


def _method(base: str, *, seeds: int, over_tasks: bool) -> str:
    if over_tasks:
        base += ", tasks resampled"
    return base + (" (episodes only: 1 BC seed)" if seeds == 1 else "")


def rate_interval(
    point: float,
    replicates: np.ndarray,
    *,
    episodes: int,
    n: Mapping[str, int],
    seeds: int,
    tasks: int = 1,
    over_tasks: bool = False,
) -> Interval:
    """A success rate (a mean over ``episodes`` episodes, or an IQM over its runs' episodes)."""
    reason = too_small(episodes=episodes, tasks=tasks, over_tasks=over_tasks)
    if reason:
        return none(point, reason, n)
    low, high = percentile(replicates)
    _, wilson_low, wilson_high = wilson_interval(point * episodes, episodes)
    method = "bootstrap"
    if wilson_low < low or wilson_high > high:
        low, high, method = min(low, wilson_low), max(high, wilson_high), "bootstrap, Wilson floor"
    return Interval(point, low, high, _method(method, seeds=seeds, over_tasks=over_tasks), dict(n)).clipped(0.0, 1.0)


def difference_interval(
    point: float,
    replicates: np.ndarray,
    *,
    episodes: int,
    n: Mapping[str, int],
    seeds: int,
    paired: bool,
    degenerate: tuple[float, float],
    tasks: int = 1,
    over_tasks: bool = False,
) -> Interval:
    """A difference of success rates in [-1, 1]; ``degenerate`` is the (low, high) used when every resample
    gives the same difference (see :mod:`.engine`)."""
    reason = too_small(episodes=episodes, tasks=tasks, over_tasks=over_tasks)
    if reason:
        return none(point, reason, n)
    low, high = percentile(replicates)
    method = "paired bootstrap" if paired else "unpaired bootstrap"
    if high - low <= 0.0:
        (low, high), method = degenerate, method + ", no variation: score bound"
    return Interval(point, low, high, _method(method, seeds=seeds, over_tasks=over_tasks), dict(n)).clipped(-1.0, 1.0)


def probability_interval(
    point: float,
    replicates: np.ndarray,
    *,
    episodes: int,
    runs: int,
    n: Mapping[str, int],
    seeds: int,
    tasks: int = 1,
    over_tasks: bool = False,
) -> Interval:
    """A probability of improvement; complete separation in every resample falls back to the Wilson interval
    of ``point`` over the ``runs`` compared."""
    reason = too_small(episodes=episodes, tasks=tasks, over_tasks=over_tasks)
    if reason:
        return none(point, reason, n)
    low, high = percentile(replicates)
    method = "bootstrap"
    if high - low <= 0.0:
        _, low, high = wilson_interval(point * runs, runs)
        method = f"bootstrap, no variation: Wilson over {runs} runs"
    return Interval(point, low, high, _method(method, seeds=seeds, over_tasks=over_tasks), dict(n)).clipped(0.0, 1.0)
