"""Success rates from rollout records, as results.json rows with 95 % intervals from the episodes.

The unit of variation is the episode of a (task, BC seed) (see :mod:`dynaflip.eval.stats.episodes`): intervals
come from a hierarchical bootstrap that resamples the BC seeds of each task and the episodes of each seed
(:class:`~dynaflip.eval.stats.EpisodeBootstrap`; tasks fixed). Per task and split: the success rate over every
rollout of every BC seed, its interval at least the Wilson interval of those rollouts; ``values`` holds each
seed's rate. Group "mean": the mean over tasks; group "iqm": the interquartile mean of the (task, seed) rates
(rliable; ``values``: each seed's IQM over the tasks). Every row records n (tasks x seeds x episodes) and
how its interval was made, or why there is none (fewer than 10 episodes behind it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..results import ResultRow
from ..stats import EpisodeBootstrap, EpisodeOutcomes
from ..stats.aggregates import iqm

METRIC = "success"
MEAN_GROUP = "mean"
IQM_GROUP = "iqm"
SUMMARY_GROUPS = (MEAN_GROUP, IQM_GROUP)


def success_rows(
    records: Sequence[Any],
    *,
    tasks: Sequence[str],
    splits: Sequence[str],
    seeds: Sequence[int],
    bootstrap: EpisodeBootstrap | None = None,
) -> list[ResultRow]:
    """One row per (task, split), then a "mean" and an "iqm" row per split, in the order of ``splits`` then
    ``tasks``. Raises ValueError naming the (task, split, seed) without rollouts or the imbalance."""
    outcomes = EpisodeOutcomes.from_records(records, tasks=tasks, splits=splits, seeds=seeds)
    bootstrap = bootstrap or EpisodeBootstrap()
    rows = []
    for split in splits:
        summary = bootstrap.summary(outcomes, [split])
        runs = outcomes.split(split).mean(axis=-1)  # (tasks, seeds)
        for t, task in enumerate(outcomes.tasks):
            rows.append(
                ResultRow.from_interval(
                    group=task, split=split, metric=METRIC, interval=summary.tasks[task], values=runs[t].tolist()
                )
            )
        per_seed = np.mean(runs, axis=0).tolist()
        rows.append(
            ResultRow.from_interval(
                group=MEAN_GROUP, split=split, metric=METRIC, interval=summary.mean, values=per_seed
            )
        )
        per_seed_iqm = [float(iqm(runs[:, s][:, None])) for s in range(runs.shape[1])]  # IQM over tasks
        rows.append(
            ResultRow.from_interval(
                group=IQM_GROUP, split=split, metric=METRIC, interval=summary.iqm, values=per_seed_iqm
            )
        )
    return rows


def table_groups(rows: Sequence[ResultRow]) -> list[str]:
    """The tasks in row order, then the summaries present ("mean", "iqm"): the lines of tables and the bar
    groups of plots."""
    groups = [*dict.fromkeys(row.group for row in rows if row.group not in SUMMARY_GROUPS)]
    present = {row.group for row in rows}
    return [*groups, *(group for group in SUMMARY_GROUPS if group in present)]
