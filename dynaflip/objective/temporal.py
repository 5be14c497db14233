"""R3M-style time-contrastive loss on frame embeddings.

For frames t1 < t2 < t3 of one clip, with similarity S = -||e_a - e_b|| / temperature on unit-normalised
frame features: anchored at t3, (t2, t3) must be more similar than (t1, t3) and than t3 against the t3
frames of every other clip in the (global) batch; anchored at t1, (t1, t2) against (t1, t3) and the other
clips' t1 frames. Rows of the same clip are not negatives of each other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dynaflip.distributed import gather_no_grad, gather_with_grad

from .area import safe_sqrt
from .infonce import same_id_mask


def pairwise_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(A, B) Euclidean distances without an A x B x d tensor; finite gradient at zero distance."""
    squared = (a * a).sum(-1, keepdim=True) + (b * b).sum(-1).unsqueeze(0) - 2 * a @ b.T
    return safe_sqrt(squared.clamp_min(0.0))


def rowwise_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return safe_sqrt(((a - b) ** 2).sum(-1))


def temporal_contrastive_loss(
    early: torch.Tensor,
    middle: torch.Tensor,
    late: torch.Tensor,
    *,
    clip_ids: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """``early``/``middle``/``late``: (B_local, D) features of t1 < t2 < t3; ``clip_ids`` (B_local,)."""
    early, middle, late = (F.normalize(x, dim=-1) for x in (early, middle, late))
    all_early, all_late = gather_with_grad(early), gather_with_grad(late)
    same_clip = same_id_mask(clip_ids, gather_no_grad(clip_ids))
    losses = []
    for anchor, positive, others in ((late, middle, all_late), (early, middle, all_early)):
        within = torch.stack(
            [-rowwise_distance(anchor, positive), -rowwise_distance(early, late)], dim=1
        )  # positive, then the far frame of the same clip
        across = (-pairwise_distance(anchor, others)).masked_fill(same_clip, float("-inf"))
        logits = torch.cat([within, across], dim=1) / temperature
        target = torch.zeros(anchor.shape[0], dtype=torch.long, device=anchor.device)
        losses.append(F.cross_entropy(logits, target))
    return torch.stack(losses).mean()
