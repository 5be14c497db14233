"""Small heads on the image features: the transition embedding z_I and the actor (one-step 3D flow)."""

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


class ActorHead(nn.Module):
    """Predicts the one-step 3D flow of the G x G grid (B, N, 3) from the single-frame feature d_t."""

    def __init__(self, image_dim: int, *, num_points: int, hidden_dim: int) -> None:
        super().__init__()
        self.num_points = num_points
        self.norm = nn.LayerNorm(image_dim)
        self.mlp = mlp(image_dim, hidden_dim, num_points * 3)

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm(image_features)).view(-1, self.num_points, 3)
