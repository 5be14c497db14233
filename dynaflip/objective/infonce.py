"""InfoNCE over local rows and global columns, with optional masking of false negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(logits: torch.Tensor, labels: torch.Tensor, *, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of ``logits`` (B_local, B_global) with the positive of row i at ``labels[i]``.

    ``exclude`` (same shape, bool) removes columns from a row's softmax (duplicates of the positive that
    would otherwise count as negatives); the positive itself is never excluded.
    """
    if exclude is not None:
        keep_positive = torch.zeros_like(exclude)
        keep_positive[torch.arange(labels.shape[0], device=labels.device), labels] = True
        logits = logits.masked_fill(exclude & ~keep_positive, float("-inf"))
    return F.cross_entropy(logits, labels)


def same_id_mask(local_ids: torch.Tensor, global_ids: torch.Tensor) -> torch.Tensor:
    """(B_local, B_global) True where the local row and the global column share an id."""
    return local_ids.unsqueeze(1) == global_ids.unsqueeze(0)
