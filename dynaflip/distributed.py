"""Collectives for the contrastive losses: gather embeddings from every rank with their gradient.

The loss of each rank is computed on its local rows against the gathered columns (labels offset by
``rank * local_batch``). The gather's backward sums the column gradients of every rank back into the
owner's rows, so with DDP's gradient averaging the parameter gradients equal those of the loss on the
whole global batch (open_clip's ``--local-loss --gather-with-grad``). ``accelerator.gather`` has no
gradient path and is for metrics only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class WorldInfo:
    rank: int
    world_size: int

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def world_info() -> WorldInfo:
    if dist.is_available() and dist.is_initialized():
        return WorldInfo(rank=dist.get_rank(), world_size=dist.get_world_size())
    return WorldInfo(rank=0, world_size=1)


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` (B, ...) from all ranks along dim 0, differentiably. Identity on one process."""
    info = world_info()
    if not info.is_distributed:
        return tensor
    from torch.distributed._functional_collectives import all_gather_single_autograd

    gathered = all_gather_single_autograd(tensor.contiguous(), 0, dist.group.WORLD)
    if hasattr(gathered, "wait"):
        gathered = gathered.wait()
    return gathered


@torch.no_grad()
def gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from all ranks along dim 0 (ids, masks, metrics)."""
    info = world_info()
    if not info.is_distributed:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(info.world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def rank_offset_labels(local_batch: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Indices of the local rows' positives among the gathered columns."""
    return torch.arange(local_batch, device=device) + world_info().rank * local_batch
