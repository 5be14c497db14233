"""The actor loss: squared L2 error of the predicted one-step 3D flow, over the valid grid points."""

from __future__ import annotations

import torch


def actor_loss(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over samples of the per-sample mean squared L2 error on valid points (B, N, 3), (B, N).

    Averaging per sample first keeps the loss independent of how samples are split across ranks.
    """
    error = ((prediction - target) ** 2).sum(-1) * mask
    per_sample = error.sum(-1) / mask.sum(-1).clamp_min(1)
    return per_sample.mean()
