"""VICReg's variance and covariance terms (Bardes et al. 2022) as a remedy for dimensional collapse: keep
every embedding dimension's std across the batch at least ``gamma`` and decorrelate the dimensions.
Not in the paper's objective; off unless ``objective.lambda_vicreg > 0``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dynaflip.distributed import gather_with_grad


def variance_covariance_terms(
    embeddings: torch.Tensor, *, gamma: float = 1.0, eps: float = 1e-4
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N_local, D) embeddings -> (variance, covariance) over the global batch (gathered with gradient).

    variance = mean_d relu(gamma - sqrt(var_d + eps)); covariance = sum of squared off-diagonal covariances
    / D. An all-equal batch gives variance ~gamma; unit-variance independent dimensions give ~0 and ~0."""
    rows = gather_with_grad(embeddings.float())
    if rows.ndim != 2 or rows.shape[0] < 2:
        raise ValueError(f"embeddings: expected (N, D) with N >= 2 over the batch, got {tuple(rows.shape)}")
    centred = rows - rows.mean(dim=0)
    std = torch.sqrt(centred.var(dim=0) + eps)
    variance = F.relu(gamma - std).mean()
    dim = rows.shape[1]
    cov = centred.T @ centred / (rows.shape[0] - 1)
    off_diagonal = cov - torch.diag_embed(torch.diagonal(cov))
    covariance = off_diagonal.pow(2).sum() / dim
    return variance, covariance
