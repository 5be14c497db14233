"""The flow encoder g: z_F = normalize(g(F ; sg(d_t))).

Per time step a small CNN over the G x G grid of 3D points, then a temporal transformer over the step
tokens, with the stop-gradient image feature d_t prepended as a conditioning token; the output at a
learned CLS token is projected to the shared embedding space. The stop-gradient keeps the image branch
from being shaped through the flow branch (a shortcut the paper rules out).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .flow_inputs import FlowNormalization, at_least_float32, flow_channels, flow_scale

IN_CHANNELS = 7


@dataclass
class FlowEncoderConfig:
    cnn_channels: int = 64
    cnn_layers: int = 4
    width: int = 256
    depth: int = 4
    heads: int = 4
    max_steps: int = 32
    dropout: float = 0.0
    normalization: FlowNormalization = "median_depth"


def _conv_block(in_channels: int, out_channels: int, *, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1),
        nn.GroupNorm(min(8, out_channels), out_channels),
        nn.GELU(),
    )


class StepCNN(nn.Module):
    """(B*K, 7, G, G) -> (B*K, width): conv layers, every layer after the first halving the grid."""

    def __init__(self, *, channels: int, layers: int, width: int) -> None:
        super().__init__()
        blocks = [_conv_block(IN_CHANNELS, channels, stride=1)]
        for index in range(1, layers):
            out_channels = channels * 2 if index == layers - 1 else channels
            blocks.append(_conv_block(channels, out_channels, stride=2))
            channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(channels, width)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(grid).mean(dim=(2, 3)))


class FlowEncoder(nn.Module):
    def __init__(self, config: FlowEncoderConfig, *, grid_size: int, image_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.config = config
        self.grid_size = grid_size
        width = config.width
        self.step_cnn = StepCNN(channels=config.cnn_channels, layers=config.cnn_layers, width=width)
        self.condition = nn.Sequential(nn.LayerNorm(image_dim), nn.Linear(image_dim, width))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.step_embedding = nn.Parameter(torch.zeros(1, config.max_steps + 2, width))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.step_embedding, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model=width,
            nhead=config.heads,
            dim_feedforward=4 * width,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.temporal = nn.TransformerEncoder(layer, num_layers=config.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.project = nn.Linear(width, embed_dim)

    def forward(self, points3d: torch.Tensor, valid: torch.Tensor, image_features: torch.Tensor) -> torch.Tensor:
        """``points3d`` (B, K, N, 3), ``valid`` (B, K, N), ``image_features`` d_t (B, D) -> z_F (B, E)."""
        batch, steps, num_points, _ = points3d.shape
        if num_points != self.grid_size**2:
            raise ValueError(f"points3d: expected N = {self.grid_size}^2 points, got {num_points}")
        if steps > self.config.max_steps:
            raise ValueError(f"points3d: at most flow.max_steps={self.config.max_steps} steps, got {steps}")
        # Channels in (at least) float32, from float32 points: displacements are small differences of large
        # coordinates. Only then into the networks' dtype (bf16 under a bf16 DeepSpeed engine).
        points3d = at_least_float32(points3d)
        scale = flow_scale(points3d, valid, normalization=self.config.normalization)
        channels = flow_channels(points3d, valid, scale=scale)  # (B, K, 7, N)
        dtype = self.cls_token.dtype
        grid = channels.reshape(batch * steps, IN_CHANNELS, self.grid_size, self.grid_size).to(dtype)
        step_tokens = self.step_cnn(grid).view(batch, steps, -1)
        # stop-gradient into the image branch
        condition = self.condition(image_features.detach().to(dtype)).unsqueeze(1)
        tokens = torch.cat([self.cls_token.expand(batch, -1, -1), condition, step_tokens], dim=1)
        tokens = tokens + self.step_embedding[:, : steps + 2]
        out = self.temporal(tokens)
        return F.normalize(self.project(self.norm(out[:, 0])), dim=-1)
