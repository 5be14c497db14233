"""Statistics of evaluations, on the right unit.

- :mod:`.intervals`: :class:`Interval` (an estimate, its 95 % interval or a plain reason for none, and n),
  Student-t intervals over seeds, Wilson and Newcombe score intervals of rates.
- :mod:`.episodes`: per-episode policy outcomes as a balanced (split, task, BC seed, episode) array.
- :mod:`.resample`, :mod:`.aggregates`, :mod:`.estimate`, :mod:`.engine`: the hierarchical (clustered)
  bootstrap over tasks, BC seeds and episodes, paired across encoders on the shared episodes; mean, IQM and
  probability of improvement (rliable's aggregates).
- :mod:`.power`: the smallest difference a design detects at 80 % power.
- :mod:`.simulate`, :mod:`.coverage`: synthetic correlated outcomes and the coverage check of the intervals
  (``python -m dynaflip.eval.stats.coverage``); :mod:`.probe_coverage`: the same check for probe gains, paired
  over test episodes and probe seeds (``python -m dynaflip.eval.stats.probe_coverage``).
"""

from .engine import Comparison, EpisodeBootstrap, SplitSummary
from .episodes import CROSSED, NESTED, DesignError, EpisodeOutcomes
from .estimate import MIN_EPISODES, MIN_TASKS_TO_RESAMPLE
from .intervals import (
    Interval,
    describe_n,
    interval_text,
    mean_interval,
    newcombe_difference,
    none,
    t_interval,
    t_quantile_975,
    wilson_interval,
)
from .power import minimum_detectable_difference

__all__ = [
    "CROSSED",
    "MIN_EPISODES",
    "MIN_TASKS_TO_RESAMPLE",
    "NESTED",
    "Comparison",
    "DesignError",
    "EpisodeBootstrap",
    "EpisodeOutcomes",
    "Interval",
    "SplitSummary",
    "describe_n",
    "interval_text",
    "mean_interval",
    "minimum_detectable_difference",
    "newcombe_difference",
    "none",
    "t_interval",
    "t_quantile_975",
    "wilson_interval",
]
