"""Probe scores: R^2 and MSE (optionally over a validity mask) and classification accuracy.

R^2 is pooled over all output dimensions (sklearn's "variance_weighted"): 1 - SSE / SST with SST taken
around each column's mean over its valid entries. Every regression target is in one unit (metres, or the
gripper's fraction), so it is the fraction of the label's total variance the probe explains; unlike a
per-column average it stays defined for flow columns that hardly vary (static background points).
"""

from __future__ import annotations

import numpy as np


def _masked(y: np.ndarray, prediction: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, ...]:
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    prediction = np.asarray(prediction, dtype=np.float64).reshape(y.shape)
    weight = np.ones_like(y) if mask is None else np.asarray(mask, dtype=np.float64).reshape(y.shape)
    return y, prediction, weight


def r2_score(y: np.ndarray, prediction: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Pooled R^2 over the entries where ``mask`` is set (all when None); NaN when the targets do not vary."""
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
