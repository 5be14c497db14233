"""Small heads on the image features: the transition embedding z_I, the actor (one-step 3D flow) and the
optional projection the temporal loss may read frames through."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

TransitionInputs = Literal["difference", "difference_and_reference", "reference"]


def mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim))


class TransitionHead(nn.Module):
    """z_I = normalize(MLP(fuse(d_t, d_{t+H}))).

    ``difference`` (the paper's description): the layer-normalised feature difference d_{t+H} - d_t.
    ``difference_and_reference``: the difference concatenated with d_t, so the embedding knows what moved.
    ``reference``: d_t alone, a single-image (CLIP-style) embedding for baselines.
    """

    def __init__(self, image_dim: int, embed_dim: int, *, hidden_dim: int, inputs: TransitionInputs) -> None:
        super().__init__()
        self.inputs = inputs
        in_dim = 2 * image_dim if inputs == "difference_and_reference" else image_dim
        self.norm = nn.LayerNorm(in_dim)
        self.mlp = mlp(in_dim, hidden_dim, embed_dim)

    @property
    def frames_needed(self) -> int:
        return 1 if self.inputs == "reference" else 2

    def forward(self, reference: torch.Tensor, later: torch.Tensor | None) -> torch.Tensor:
        if self.inputs == "reference":
            fused = reference
        elif later is None:
            raise ValueError(f"transition inputs '{self.inputs}' need the later frame I_t+H")
        elif self.inputs == "difference":
            fused = later - reference
        else:
            fused = torch.cat([later - reference, reference], dim=-1)
        return F.normalize(self.mlp(self.norm(fused)), dim=-1)


class ProjectionHead(nn.Module):
    """e_t = MLP(LayerNorm(d_t)): per-frame embeddings for the temporal (and VICReg) terms when
    ``objective.tcn_on: projection``, so those losses shape this head's output rather than d_t itself."""

    def __init__(self, image_dim: int, out_dim: int, *, hidden_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(image_dim)
        self.mlp = mlp(image_dim, hidden_dim, out_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm(features))


class ActorHead(nn.Module):
    """Predicts the one-step 3D flow (B, N, 3) of query points from the single-frame feature d_t and each
    point's location in the image the encoder saw.

    Telling the head where each point is, rather than numbering a fixed grid, keeps targets and image in
    correspondence under a random crop (a crop moves the n-th grid point of the stored frame elsewhere).
    The sample's code h(d_t) is computed once; each point reads it out through a gate computed from its
    location (Fourier features): flow_n = W (h(d_t) * g(q_n)). With a free gate per point this is the
    fixed-grid head's per-point readout; its cost per point is ~30 x hidden multiply-adds.
    """

    def __init__(self, image_dim: int, *, hidden_dim: int, frequencies: int = 6) -> None:
        super().__init__()
        self.frequencies = frequencies
        self.code = nn.Sequential(nn.LayerNorm(image_dim), nn.Linear(image_dim, hidden_dim), nn.GELU())
        self.gate = nn.Linear(2 + 4 * frequencies, hidden_dim)
        self.readout = nn.Linear(hidden_dim, 3)

    def forward(self, image_features: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """``image_features`` (B, D); ``queries`` (B, N, 2) locations in [-1, 1] (x right, y down)."""
        code = self.code(image_features).unsqueeze(1)  # (B, 1, H)
        gate = self.gate(fourier_features(queries.to(code.dtype), self.frequencies))  # (B, N, H)
        return self.readout(code * gate)


def fourier_features(points: torch.Tensor, frequencies: int) -> torch.Tensor:
    """(..., 2) -> (..., 2 + 4 F): the coordinates and sin/cos at 2^k pi for k < F."""
    scales = (2.0 ** torch.arange(frequencies, device=points.device, dtype=points.dtype)) * torch.pi
    angles = (points.unsqueeze(-1) * scales).flatten(-2)
    return torch.cat([points, angles.sin(), angles.cos()], dim=-1)
