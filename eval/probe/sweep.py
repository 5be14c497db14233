"""The probe sweep: train every (learning rate, weight decay) setting, pick the one (and the step: early
stopping) that scores best on the validation frames, and return that probe."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from dynaflip.errors import DynaflipError

from .linear import LinearProbe, Standardizer, TargetScaler, grid_loss, probe_threads, train_grid
from .targets import CLASSIFICATION


class ProbeDiverged(DynaflipError, RuntimeError):
    """Every setting of a probe's sweep diverged: the features cannot be probed as given."""


@dataclass(frozen=True)
class SweepConfig:
    """The hyperparameter grid and training length of every probe."""

    lrs: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
    weight_decays: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
    steps: int = 300
    eval_every: int = 25

    def check(self) -> None:
        if not self.lrs or any(lr <= 0 for lr in self.lrs):
            raise ValueError(f"--lrs: expected positive learning rates, got {list(self.lrs)}")
        if not self.weight_decays or any(wd < 0 for wd in self.weight_decays):
            raise ValueError(f"--weight-decays: expected non-negative values, got {list(self.weight_decays)}")
        if self.steps < 1 or self.eval_every < 1:
            raise ValueError(f"--steps/--eval-every: expected >= 1, got {self.steps}/{self.eval_every}")

    def to_json(self) -> dict[str, Any]:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


def fit_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    *,
    kind: str,
    train_mask: np.ndarray | None = None,
    val_mask: np.ndarray | None = None,
    num_classes: int | None = None,
    config: SweepConfig | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    components: int | None = None,
) -> tuple[LinearProbe, dict[str, Any]]:
    """The probe (and its selection record) whose setting and step score best on the validation frames:
    lowest masked MSE for regression; highest accuracy, then lowest cross-entropy, for classification.

    ``components``: project the standardised features on that many principal components of ``train_x``
    (None: use all feature dimensions)."""
    config = config or SweepConfig()
    config.check()
    standardizer = Standardizer.fit(train_x, components=components)
    x, xv = standardizer(train_x), standardizer(val_x)
    scaler = None
    if kind == CLASSIFICATION:
        outputs = int(num_classes or int(max(train_y.max(), val_y.max())) + 1)
        y, yv = np.asarray(train_y, dtype=np.int64), np.asarray(val_y, dtype=np.int64)
    else:
        scaler = TargetScaler.fit(train_y, train_mask)
        y, yv = scaler(train_y), scaler(val_y)
        outputs = y.shape[1]
    pairs = [(lr, wd) for lr in config.lrs for wd in config.weight_decays]
    val_features = torch.as_tensor(xv, device=device)
    val_target = torch.as_tensor(yv, device=device)
    val_weights = None if val_mask is None else torch.as_tensor(val_mask, dtype=torch.float32, device=device)
    work = len(x) * x.shape[1] * len(pairs) * outputs
    with probe_threads(work, device):
        record, chosen = _select(
            train_grid(
                x,
                y,
                kind=kind,
                outputs=outputs,
                mask=train_mask,
                lrs=config.lrs,
                weight_decays=config.weight_decays,
                steps=config.steps,
                eval_every=config.eval_every,
                seed=seed,
                device=device,
            ),
            pairs=pairs,
            val_features=val_features,
            val_target=val_target,
            val_weights=val_weights,
            kind=kind,
        )
    probe = LinearProbe(kind=kind, weight=chosen[0], bias=chosen[1], features=standardizer, targets=scaler)
    return probe, record


def _select(
    snapshots: Iterator[tuple[int, torch.Tensor, torch.Tensor]],
    *,
    pairs: list[tuple[float, float]],
    val_features: torch.Tensor,
    val_target: torch.Tensor,
    val_weights: torch.Tensor | None,
    kind: str,
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:
    """The best (setting, step) over the training snapshots, and its weights."""
    best: tuple[float, float] | None = None
    record: dict[str, Any] = {}
    chosen: tuple[np.ndarray, np.ndarray] | None = None
    for step, weight, bias in snapshots:
        with torch.no_grad():
            prediction = torch.einsum("nd,dco->nco", val_features, weight) + bias
            loss = grid_loss(prediction, val_target, val_weights, kind=kind)[0].cpu().numpy()
            if kind == CLASSIFICATION:
                correct = (prediction.argmax(dim=2) == val_target[:, None]).float().mean(dim=0).cpu().numpy()
            else:
                correct = np.zeros(len(pairs))
        for index, (lr, wd) in enumerate(pairs):
            key = (-float(correct[index]), float(loss[index]))  # accuracy first (classification), then loss
            if np.isfinite(key[1]) and (best is None or key < best):
                best = key
                record = {"lr": lr, "weight_decay": wd, "step": step, "val_loss": float(loss[index])}
                if kind == CLASSIFICATION:
                    record["val_accuracy"] = float(correct[index])
                chosen = (weight[:, index].cpu().numpy().copy(), bias[index].cpu().numpy().copy())
    if chosen is None:
        raise ProbeDiverged("probe: every sweep setting diverged (non-finite validation loss)")
    return record, chosen
