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


def visible_cuda_devices(value: str | None) -> list[str] | None:
    """The devices CUDA_VISIBLE_DEVICES names (indices or UUIDs), or None when it is unset.

    CUDA stops at the first empty or negative entry ("0,-1,2" shows only device 0), so this does too.
    """
    if value is None:
        return None
    devices = []
    for item in value.split(","):
        item = item.strip()
        if not item or item.startswith("-"):
            break
        devices.append(item)
    return devices


def cuda_device_index(*, local_rank: int, visible_devices: str | None, device_count: int) -> int | None:
    """The index (among the visible devices) of the GPU a process with ``local_rank`` should use, or None
    without GPUs.

    With ``--gpus-per-task=1`` or ``--gpu-bind`` Slurm shows each task only its own GPU, as device 0, so the
    node-local rank indexes past the end; it is used only when it indexes into the visible devices, and wraps
    around otherwise (every task then still picks one of its own). ``device_count`` is what torch sees, used
    when CUDA_VISIBLE_DEVICES is unset.
    """
    visible = visible_cuda_devices(visible_devices)
    count = len(visible) if visible is not None else device_count
    if count <= 0:
        return None
    return local_rank if 0 <= local_rank < count else local_rank % count
