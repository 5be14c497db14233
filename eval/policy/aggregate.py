"""Success rates from rollout records, as results.json rows with 95 % intervals.

Per task and split: the success rate pooled over every rollout of every BC seed, with a Wilson interval
over those rollouts (sound at 0 % and 100 %, where a t-interval over 3 seeds degenerates); ``values`` holds
each seed's rate. Suite mean (group "mean"): each seed's mean success over the tasks, then a Student-t
interval over the seeds (the seed is the unit that is repeated; tasks are fixed), clipped to [0, 1].
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ..results import ResultRow
from ..stats import wilson_interval
from .rollout import RolloutRecord

METRIC = "success"
MEAN_GROUP = "mean"


def success_rows(
    records: Sequence[RolloutRecord], *, tasks: Sequence[str], splits: Sequence[str], seeds: Sequence[int]
) -> list[ResultRow]:
    """One row per (task, split) and one "mean" row per split, in the order of ``splits`` then ``tasks``."""
    outcomes: dict[tuple[str, str, int], list[bool]] = defaultdict(list)
    for record in records:
        outcomes[(record.task, record.split, record.policy_seed)].append(record.success)
    rows = []
    for split in splits:
        per_seed_means = {seed: [] for seed in seeds}
        for task in tasks:
            rates, successes, trials = [], 0, 0
            for seed in seeds:
                results = outcomes.get((task, split, seed))
                if not results:
                    raise ValueError(f"no rollouts of task {task!r}, split {split!r}, seed {seed}")
                rates.append(sum(results) / len(results))
                successes += sum(results)
                trials += len(results)
                per_seed_means[seed].append(rates[-1])
            rate, low, high = wilson_interval(successes, trials)
            rows.append(ResultRow(group=task, split=split, metric=METRIC, mean=rate, low=low, high=high, values=rates))
        values = [sum(means) / len(means) for means in per_seed_means.values()]
        row = ResultRow.from_values(group=MEAN_GROUP, split=split, metric=METRIC, values=values)
        row.low, row.high = max(0.0, row.low), min(1.0, row.high)  # a rate's interval stays within [0, 1]
        rows.append(row)
    return rows


def table_groups(rows: Sequence[ResultRow]) -> list[str]:
    """The tasks in row order, then the suite mean: the lines of tables and the bar groups of plots."""
    return [*dict.fromkeys(row.group for row in rows if row.group != MEAN_GROUP), MEAN_GROUP]
