"""From probe predictions to result rows, each with its bootstrap interval over test episodes and seeds.

Rows (``results.json``): ``score`` for every regression probe (the skill score of :mod:`.metrics`, higher is
better, 1 perfect, 0 the constant train-mean predictor); ``rmse_cm`` beside it for the position probes;
``accuracy`` for the task probe; and per split a row of group ``median`` with the median ``score`` over the
regression probes. A row's ``mean`` is the mean over probe seeds of the score on all test frames, ``values``
the per-seed scores; ``low``/``high`` are the 95 % percentile interval of :class:`~.bootstrap.ProbeBootstrap`
draws, or NaN when there is none; ``n`` the units behind it (tasks, probe seeds, test episodes per task) and
``interval`` the method, or why there is none.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..results import ResultRow
from ..stats import wilson_interval
from .bootstrap import ProbeBootstrap
from .metrics import ratio_score, squared_errors
from .targets import CLASSIFICATION, ProbeSpec

SCORE, RMSE_CM, ACCURACY = "score", "rmse_cm", "accuracy"
MEDIAN_GROUP = "median"
POSITION_PROBES = ("ee_pos", "object_pos")  # in metres: their RMSE is reported in centimetres
METHOD = "95 % percentile bootstrap over test episodes (resampled within each task) and probe seeds"


@dataclass
class SplitPredictions:
    """One probe on one test split: the targets, and each seed's predictions and training label mean."""

    target: np.ndarray  # (N, O) float, or (N,) classes
    mask: np.ndarray | None  # (N, O) bool, or None
    predictions: list[np.ndarray] = field(default_factory=list)  # per seed: (N, O) label units, or (N,) classes
    train_means: list[np.ndarray] = field(default_factory=list)  # per seed: (O,) (regression only)


@dataclass
class Estimate:
    """A statistic: its point value (mean over seeds), per-seed values and bootstrap draws (B,)."""

    point: float
    per_seed: list[float]
    draws: np.ndarray


def _estimate(per_seed: np.ndarray, draws: np.ndarray) -> Estimate:
    per_seed = np.asarray(per_seed, dtype=np.float64)
    return Estimate(point=float(per_seed.mean()), per_seed=per_seed.tolist(), draws=draws)


def regression_estimates(data: SplitPredictions, plan: ProbeBootstrap, *, centimetres: bool) -> dict[str, Estimate]:
    """The skill score (and the RMSE in centimetres when ``centimetres``) of one probe on one split."""
    errors, baselines, counts = [], [], []
    for prediction, mean in zip(data.predictions, data.train_means, strict=True):
        error, count = squared_errors(data.target, prediction, data.mask)
        reference = np.broadcast_to(np.asarray(mean, dtype=np.float64).reshape(1, -1), (*error.shape, len(mean)))
        baseline, _ = squared_errors(data.target, reference, data.mask)
        errors.append(error)
        baselines.append(baseline)
        counts.append(count)
    errors, baselines, counts = (plan.episode_sums(np.stack(values)) for values in (errors, baselines, counts))
    per_seed = ratio_score(errors.sum(axis=1), baselines.sum(axis=1), count=counts.sum(axis=1))
    drawn_counts = plan.resampled(counts)
    draws = ratio_score(plan.resampled(errors), plan.resampled(baselines), count=drawn_counts)
    out = {SCORE: _estimate(per_seed, plan.seed_mean(draws))}
    if centimetres:
        per_seed_rmse = 100 * np.sqrt(errors.sum(axis=1) / np.maximum(counts.sum(axis=1), 1.0))
        draws_rmse = 100 * np.sqrt(plan.resampled(errors) / np.maximum(drawn_counts, 1.0))
        out[RMSE_CM] = _estimate(per_seed_rmse, plan.seed_mean(draws_rmse))
    return out


def accuracy_estimate(data: SplitPredictions, plan: ProbeBootstrap) -> Estimate:
    """The classification accuracy of one probe on one split."""
    labels = np.asarray(data.target).reshape(-1)
    correct = plan.episode_sums(np.stack([np.asarray(p).reshape(-1) == labels for p in data.predictions]))
    frames = plan.episode_sums(np.ones((1, len(labels))))
    per_seed = correct.sum(axis=1) / max(float(frames.sum()), 1.0)
    draws = plan.resampled(correct) / np.maximum(plan.resampled(frames), 1.0)
    return _estimate(per_seed, plan.seed_mean(draws))


def median_estimate(estimates: list[Estimate]) -> Estimate:
    """The median over probes, per seed and per draw (the same draws: episodes and seeds are shared); a probe
    whose score is undefined (labels that do not vary) is left out rather than making the median undefined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices stay NaN
        return Estimate(
            point=float(np.nanmedian([estimate.point for estimate in estimates])),
            per_seed=np.nanmedian([estimate.per_seed for estimate in estimates], axis=0).tolist(),
            draws=np.nanmedian(np.stack([estimate.draws for estimate in estimates]), axis=0),
        )


def score_rows(
    predictions: dict[tuple[str, str], SplitPredictions],
    *,
    probes: list[ProbeSpec],
    splits: list[str],
    plan: ProbeBootstrap,
) -> tuple[list[ResultRow], list[dict[str, str]]]:
    """Rows of every (probe, split) in ``predictions`` (keys: probe name, result split) and the median rows;
    plus one note per row without an interval (``group``, ``split``, ``metric``, ``reason``)."""
    estimates: dict[tuple[str, str, str], Estimate] = {}
    for probe in probes:
        for split in splits:
            data = predictions.get((probe.name, split))
            if data is None:
                continue
            if probe.kind == CLASSIFICATION:
                estimates[(probe.name, split, ACCURACY)] = accuracy_estimate(data, plan)
                continue
            found = regression_estimates(data, plan, centimetres=probe.name in POSITION_PROBES)
            estimates.update({(probe.name, split, metric): estimate for metric, estimate in found.items()})
    for split in splits:
        scores = [estimate for (_, where, metric), estimate in estimates.items() if where == split and metric == SCORE]
        if scores:
            estimates[(MEDIAN_GROUP, split, SCORE)] = median_estimate(scores)
    rows, missing = [], []
    for (group, split, metric), estimate in estimates.items():
        low, high, reason = plan.interval(estimate.draws)
        method = METHOD
        if metric == ACCURACY and plan.reason is None and np.isfinite(estimate.point):
            low, high, reason, method = _with_wilson(estimate.point, low, high, reason, episodes=plan.episodes)
        if not np.isfinite(estimate.point):
            low = high = float("nan")
            reason = "the statistic is undefined on this split (the test labels do not vary)"
        rows.append(
            ResultRow(
                group=group,
                split=split,
                metric=metric,
                mean=estimate.point,
                low=low,
                high=high,
                values=estimate.per_seed,
                n=plan.n,
                interval=f"no interval: {reason}" if reason else method,
            )
        )
        if reason:
            missing.append({"group": group, "split": split, "metric": metric, "reason": reason})
    return rows, missing


def _with_wilson(
    point: float, low: float, high: float, reason: str | None, *, episodes: int
) -> tuple[float, float, str | None, str]:
    """An accuracy's interval, at least as wide as the Wilson interval with test episodes as the trials: at
    100 % every resample agrees, yet a handful of episodes cannot prove a perfect classifier."""
    _, wilson_low, wilson_high = wilson_interval(point * episodes, episodes)
    if reason:
        return (
            wilson_low,
            wilson_high,
            None,
            f"95 % Wilson interval over {episodes} test episodes (resamples all equal)",
        )
    return min(low, wilson_low), max(high, wilson_high), None, METHOD + ", at least the Wilson interval over episodes"
