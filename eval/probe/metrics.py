"""Probe scores on one split: the skill score (the headline), RMSE, R² (kept for comparison) and accuracy.

The skill score is ``1 - MSE(prediction) / MSE(train mean)``: the probe's mean squared error over the
split's (valid) entries against that of the constant predictor that always answers the training label mean.
1 is perfect, 0 is no better than that constant, and below 0 is worse than it. The reference is a fixed
predictor (fitted on training frames only), so the score of every split, in or out of distribution, is
measured against the same yardstick; R² instead re-centres on each test split's own mean. The probes clip
their predictions to the training label range (:class:`~.linear.LinearProbe`), so a score cannot run away
when shifted features push a linear read-out far outside anything it was trained on.

All regression targets are pooled over their output columns (one unit per probe: metres, or the gripper's
fraction), so a score is the share of the squared error of the constant predictor the probe removes.
"""

from __future__ import annotations

import numpy as np


def _masked(y: np.ndarray, prediction: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, ...]:
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    prediction = np.asarray(prediction, dtype=np.float64).reshape(y.shape)
    weight = np.ones_like(y) if mask is None else np.asarray(mask, dtype=np.float64).reshape(y.shape)
    return y, prediction, weight


def squared_errors(y: np.ndarray, prediction: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Per frame: (sum of squared errors over valid entries, number of valid entries), both (N,) float64."""
    y, prediction, weight = _masked(y, prediction, mask)
    return (weight * (y - prediction) ** 2).sum(axis=1), weight.sum(axis=1)


def skill_score(y: np.ndarray, prediction: np.ndarray, train_mean: np.ndarray, mask: np.ndarray | None = None) -> float:
    """``1 - MSE(prediction) / MSE(train_mean)`` over the entries where ``mask`` is set; NaN when the constant
    ``train_mean`` (O,) is itself exact (nothing to explain)."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    reference = np.broadcast_to(np.asarray(train_mean, dtype=np.float64).reshape(1, -1), y.shape)
    error, _ = squared_errors(y, prediction, mask)
    baseline, count = squared_errors(y, reference, mask)
    return float(ratio_score(float(error.sum()), float(baseline.sum()), count=float(count.sum())))


def ratio_score(error: float | np.ndarray, baseline: float | np.ndarray, *, count: float | np.ndarray) -> np.ndarray:
    """``1 - error / baseline`` (sums of squared errors), NaN where the baseline is (numerically) zero."""
    error, baseline = np.asarray(error, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    defined = baseline > 1e-12 * np.maximum(np.asarray(count, dtype=np.float64), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(defined, 1.0 - error / np.where(defined, baseline, 1.0), np.nan)


def rmse(y: np.ndarray, prediction: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Root mean squared error over the valid entries (target units)."""
    return float(np.sqrt(mse(y, prediction, mask)))


def r2_score(y: np.ndarray, prediction: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Pooled R^2 over the entries where ``mask`` is set (all when None); NaN when the targets do not vary.

    Centred on each column's mean over this split's valid entries (sklearn's "variance_weighted"), unlike
    :func:`skill_score`, whose reference is the training mean."""
    y, prediction, weight = _masked(y, prediction, mask)
    counts = weight.sum(axis=0)
    means = (weight * y).sum(axis=0) / np.maximum(counts, 1)
    total = float((weight * (y - means) ** 2).sum())
    if total <= 1e-12 * max(float(weight.sum()), 1.0):
        return float("nan")
    return 1.0 - float((weight * (y - prediction) ** 2).sum()) / total


def mse(y: np.ndarray, prediction: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared error over the entries where ``mask`` is set (target units squared)."""
    y, prediction, weight = _masked(y, prediction, mask)
    return float((weight * (y - prediction) ** 2).sum() / max(weight.sum(), 1.0))


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of correct class predictions."""
    labels = np.asarray(labels).reshape(-1)
    return float(np.mean(labels == np.asarray(predicted).reshape(-1))) if len(labels) else float("nan")
