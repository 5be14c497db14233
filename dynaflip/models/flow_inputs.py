"""From a batch of 3D flow (points in the reference camera frame) to the tensors the networks see.

Scale: the corpus mixes metric depth (robot data, simulation) and relative depth of unknown scale (human
video through a monocular model). With ``normalization="median_depth"`` every sample's coordinates are
divided by the median depth of its valid reference points, so flow is measured in units of the scene's
distance and both kinds of depth can be trained together; ``"none"`` keeps metres.
"""

from __future__ import annotations

from typing import Literal

import torch

FlowNormalization = Literal["median_depth", "none"]


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """float32 for half-precision tensors, unchanged otherwise (float64 stays float64)."""
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


def flow_scale(points3d: torch.Tensor, valid: torch.Tensor, *, normalization: FlowNormalization) -> torch.Tensor:
    """(B,) divisor per sample: the median reference depth, or 1."""
    batch = points3d.shape[0]
    if normalization == "none":
        return torch.ones(batch, dtype=points3d.dtype, device=points3d.device)
    depth = points3d[:, 0, :, 2]
    ref_valid = valid[:, 0]
    # Median over valid points: fill invalid with +inf, sort, pick the middle of the valid count.
    filled = torch.where(ref_valid, depth, torch.full_like(depth, float("inf")))
    ordered, _ = torch.sort(filled, dim=1)
    count = ref_valid.sum(dim=1)
    middle = ((count - 1).clamp_min(0) // 2).unsqueeze(1)
    median = ordered.gather(1, middle).squeeze(1)
    median = torch.where(count > 0, median, torch.ones_like(median))
    return median.abs().clamp_min(1e-3)


def flow_channels(points3d: torch.Tensor, valid: torch.Tensor, *, scale: torch.Tensor) -> torch.Tensor:
    """(B, K, 7, N) per-step channels: displacement from step 0 (3), reference position (3), validity (1).

    Invalid entries (not visible, no depth, or an invalid reference point) are zeroed, and the validity
    channel tells the network which zeros are real.
    """
    p = points3d / scale.view(-1, 1, 1, 1)
    usable = valid & valid[:, :1]
    displacement = (p - p[:, :1]) * usable.unsqueeze(-1)
    reference = p[:, :1].expand_as(p) * valid[:, :1].unsqueeze(-1)
    channels = torch.cat([displacement, reference, usable.unsqueeze(-1).to(p.dtype)], dim=-1)  # (B, K, N, 7)
    return channels.transpose(2, 3)


def one_step_flow(
    points3d: torch.Tensor, valid: torch.Tensor, *, scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The actor's target: (B, N, 3) displacement from step 0 to step 1 (normalised) and its (B, N) mask."""
    p = points3d / scale.view(-1, 1, 1, 1)
    return p[:, 1] - p[:, 0], valid[:, 0] & valid[:, 1]
