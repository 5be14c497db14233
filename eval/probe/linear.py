"""Linear probes on frozen features, and the batched full-batch trainer behind the sweep.

All (learning rate, weight decay) settings of a sweep train at once as one (C, D, O) weight tensor, so a
sweep costs one pass of matrix products per step instead of C. The optimiser is Adam, full batch, with
weight decay as an L2 penalty in the loss (not AdamW's decoupled decay): trained to convergence, every
setting is then the ridge / L2-regularised logistic-regression optimum whatever its learning rate, whereas
decoupled decay under full-batch Adam caps each weight near 1/wd and regularises little.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .targets import CLASSIFICATION, REGRESSION


@dataclass
class Standardizer:
    """Per-dimension mean and std of training features (std floored so constant dimensions stay finite),
    optionally followed by a projection on the training frames' leading principal components.

    The projection conditions the probe: a linear read-out of D-d features from fewer than ~10 training frames
    per dimension fits noise along directions the training frames hardly span, and shifted features then
    move along exactly those directions. Components are scaled by one common factor (not whitened), so the
    weight decay still shrinks the low-variance components most, as ridge regression on the features does.
    """

    mean: np.ndarray
    std: np.ndarray
    projection: np.ndarray | None = None  # (D, k) leading principal axes of the standardised training features
    scale: float = 1.0  # root mean variance of the k components on the training frames

    @classmethod
    def fit(cls, features: np.ndarray, *, components: int | None = None) -> Standardizer:
        """Fit on training features (N, D); ``components``: keep that many principal components (None: all
        D standardised dimensions, no projection)."""
        features = np.asarray(features, dtype=np.float64)
        std = features.std(axis=0)
        mean, std = features.mean(axis=0), np.where(std > 1e-6, std, 1.0)
        if components is None:
            return cls(mean=mean, std=std)
        if components < 1:
            raise ValueError(f"components: expected >= 1, got {components}")
        _, singular, axes = np.linalg.svd((features - mean) / std, full_matrices=False)
        rank = int((singular > 1e-8 * max(float(singular[0]), 1e-30)).sum()) if len(singular) else 0
        kept = max(min(int(components), rank), 1)
        variance = singular[:kept] ** 2 / max(len(features), 1)
        scale = float(np.sqrt(variance.mean())) if variance.mean() > 1e-20 else 1.0
        return cls(mean=mean, std=std, projection=axes[:kept].T.copy(), scale=scale)

    @property
    def dim(self) -> int:
        """Width of the transformed features."""
        return len(self.mean) if self.projection is None else self.projection.shape[1]

    def __call__(self, features: np.ndarray) -> np.ndarray:
        standardised = (np.asarray(features, dtype=np.float64) - self.mean) / self.std
        if self.projection is not None:
            standardised = standardised @ self.projection / self.scale
        return standardised.astype(np.float32)


@dataclass
class TargetScaler:
    """Regression targets centred per column and divided by one pooled std, over the valid entries: a
    single scale keeps the loss proportional to the squared error in metres (what the scores measure).
    Also keeps each column's training range, to which the probe clips its predictions."""

    mean: np.ndarray
    scale: float
    low: np.ndarray | None = None  # (O,) per-column minimum over the valid training entries
    high: np.ndarray | None = None  # (O,) maximum

    @classmethod
    def fit(cls, y: np.ndarray, mask: np.ndarray | None) -> TargetScaler:
        y = np.asarray(y, dtype=np.float64)
        weight = np.ones_like(y) if mask is None else np.asarray(mask, dtype=np.float64)
        mean = (weight * y).sum(axis=0) / np.maximum(weight.sum(axis=0), 1.0)
        variance = (weight * (y - mean) ** 2).sum() / max(weight.sum(), 1.0)
        valid = weight > 0
        low = np.where(valid.any(axis=0), np.where(valid, y, np.inf).min(axis=0), mean)
        high = np.where(valid.any(axis=0), np.where(valid, y, -np.inf).max(axis=0), mean)
        return cls(mean=mean, scale=float(np.sqrt(variance)) if variance > 1e-20 else 1.0, low=low, high=high)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return ((np.asarray(y, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)

    def invert(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float64) * self.scale + self.mean

    def clip(self, y: np.ndarray) -> np.ndarray:
        """Values in label units clipped to the training range of their column."""
        if self.low is None or self.high is None:
            return np.asarray(y, dtype=np.float64)
        return np.clip(np.asarray(y, dtype=np.float64), self.low, self.high)


@dataclass
class LinearProbe:
    """A trained probe: standardise (and project), one linear layer, then back to label units clipped to the
    training label range (or the arg-max class)."""

    kind: str
    weight: np.ndarray  # (k, O)
    bias: np.ndarray  # (O,)
    features: Standardizer
    targets: TargetScaler | None = None  # regression only

    def raw(self, features: np.ndarray) -> np.ndarray:
        return self.features(features) @ self.weight + self.bias

    def predict(self, features: np.ndarray, *, clip: bool = True) -> np.ndarray:
        """(N, O) values in label units (regression; clipped to the training range unless ``clip`` is False)
        or (N,) class indices (classification)."""
        out = self.raw(features)
        if self.kind == CLASSIFICATION:
            return out.argmax(axis=1)
        assert self.targets is not None
        values = self.targets.invert(out)
        return self.targets.clip(values) if clip else values


def grid_loss(
    prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, *, kind: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-setting data loss (C,) of ``prediction`` (N, C, O), and its gradient with respect to it.

    Masked MSE against (N, O) targets (mean over valid entries), or cross-entropy against (N,) classes.
    """
    count, settings, _ = prediction.shape
    if kind == CLASSIFICATION:
        log_probs = torch.log_softmax(prediction, dim=2)
        picked = log_probs.gather(2, target.view(count, 1, 1).expand(count, settings, 1)).squeeze(2)
        gradient = log_probs.exp()
        gradient.scatter_add_(
            2,
            target.view(count, 1, 1).expand(count, settings, 1),
            -torch.ones(count, settings, 1, device=prediction.device),
        )
        return -picked.mean(dim=0), gradient / count
    error = prediction - target[:, None, :]
    weight = torch.ones_like(target) if mask is None else mask
    weight = weight[:, None, :] / weight.sum().clamp_min(1.0)
    return (weight * error**2).sum(dim=(0, 2)), 2 * weight * error


SINGLE_THREAD_WORK = 1e9  # multiply-adds per step below which a CPU probe trains on one thread


@contextlib.contextmanager
def probe_threads(work: float, device: str | torch.device) -> Iterator[None]:
    """One CPU thread for small probes (restored afterwards). A probe step is a few small matrix products
    and many tiny kernels; with several threads each kernel waits for all of them, which costs more than it
    saves, and 5-10x more on a shared machine where a thread may wait for a time slice."""
    before = torch.get_num_threads()
    small = torch.device(device).type == "cpu" and work < SINGLE_THREAD_WORK
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(before)


def _adam(groups: list[dict], device: torch.device) -> torch.optim.Optimizer:
    # The fused kernel does Adam's update in one pass over memory (several times faster on a CPU).
    try:
        return torch.optim.Adam(groups, betas=(0.9, 0.999), eps=1e-8, fused=True)
    except RuntimeError:
        return torch.optim.Adam(groups, betas=(0.9, 0.999), eps=1e-8)


def train_grid(
    x: np.ndarray,
    y: np.ndarray,
    *,
    kind: str,
    outputs: int,
    mask: np.ndarray | None,
    lrs: Sequence[float],
    weight_decays: Sequence[float],
    steps: int,
    eval_every: int,
    seed: int,
    device: str | torch.device = "cpu",
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Full-batch Adam on every (lr, wd) pair at once; yields ``(step, weight (D, C, O), bias (C, O))`` every
    ``eval_every`` steps and at the end, with C = len(lrs) * len(weight_decays) in lr-major order.

    ``x`` standardised features (N, D); ``y`` standardised targets (N, O) or class indices (N,). The settings
    that share a learning rate are one (D, W*O) weight (one matrix product, one fused Adam update);
    gradients are analytic.
    """
    if kind not in (REGRESSION, CLASSIFICATION):
        raise ValueError(f"kind: expected {REGRESSION!r} or {CLASSIFICATION!r}, got {kind!r}")
    device = torch.device(device)
    features = torch.as_tensor(x, dtype=torch.float32, device=device)
    target = torch.as_tensor(y, device=device)
    target = target.long() if kind == CLASSIFICATION else target.float()
    weights_mask = None if mask is None else torch.as_tensor(mask, dtype=torch.float32, device=device)
    count, dim, per_lr = features.shape[0], features.shape[1], len(weight_decays)
    width = per_lr * outputs
    decay = torch.tensor(list(weight_decays), dtype=torch.float32, device=device).repeat_interleave(outputs)
    generator = torch.Generator().manual_seed(int(seed))
    # Small random init: the seed varies it; the problem is convex, so it matters only through early stopping.
    weights = [(1e-3 * torch.randn(dim, width, generator=generator)).to(device).requires_grad_() for _ in lrs]
    biases = [torch.zeros(width, device=device, requires_grad=True) for _ in lrs]
    optimizer = _adam(
        [{"params": [w, b], "lr": float(lr)} for w, b, lr in zip(weights, biases, lrs, strict=True)], device
    )
    with torch.no_grad():
        for step in range(1, steps + 1):
            for weight, bias in zip(weights, biases, strict=True):
                prediction = (features @ weight + bias).view(count, per_lr, outputs)
                _, gradient = grid_loss(prediction, target, weights_mask, kind=kind)
                gradient = gradient.reshape(count, width)
                weight.grad = features.T @ gradient + decay * weight  # L2 penalty 0.5 * wd * |W|^2; bias free
                bias.grad = gradient.sum(dim=0)
            optimizer.step()
            if step % eval_every == 0 or step == steps:
                weight_out = torch.cat([w.view(dim, per_lr, outputs) for w in weights], dim=1)
                bias_out = torch.cat([b.view(per_lr, outputs) for b in biases], dim=0)
                yield step, weight_out, bias_out
