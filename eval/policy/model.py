"""The behaviour-cloning policy: standardised [frozen image features ; proprioception] -> MLP -> action."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dynaflip.io import atomic_path

PROPRIO_DIM = 4  # end-effector xyz + gripper opening (the Lift3D protocol)
ACTION_DIM = 4  # xyz displacement + gripper effort, in [-1, 1]
# Each input group (image features, proprioception) floors a dimension's std at this fraction of the
# group's mean std. A 1e-6 floor let a near-constant input explode: in reach demos the gripper opening has
# std 0.0012, drifts by 0.3 at rollout, and a standardised ~250 saturated the MLP (the arm ran away).
STD_FLOOR = 0.1
INPUT_CLIP = 5.0  # standardised inputs are clipped to +-this: the MLP never sees values far beyond its training data


class BCPolicy(nn.Module):
    """An MLP with ReLU between ``hidden`` layers and a linear 4-d output.

    The input standardisation (mean/std of the training inputs) lives in buffers, so a saved policy acts
    on raw features and proprioception by itself.
    """

    def __init__(
        self,
        *,
        feature_dim: int,
        hidden: list[int] | tuple[int, ...] = (256, 256, 256),
        input_clip: float | None = INPUT_CLIP,
    ) -> None:
        super().__init__()
        if input_clip is not None and not input_clip > 0:
            raise ValueError(f"input_clip: expected a positive number or None, got {input_clip}")
        self.feature_dim = int(feature_dim)
        self.hidden = [int(width) for width in hidden]
        self.input_clip = None if input_clip is None else float(input_clip)
        width = self.feature_dim + PROPRIO_DIM
        layers: list[nn.Module] = []
        for out in self.hidden:
            layers += [nn.Linear(width, out), nn.ReLU()]
            width = out
        layers.append(nn.Linear(width, ACTION_DIM))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("input_mean", torch.zeros(self.input_dim))
        self.register_buffer("input_std", torch.ones(self.input_dim))

    @property
    def input_dim(self) -> int:
        return self.feature_dim + PROPRIO_DIM

    def set_standardisation(self, inputs: torch.Tensor, *, std_floor: float = STD_FLOOR) -> None:
        """Standardise with the mean and std of the (N, input_dim) training inputs; within each group
        (features, proprioception) a dimension's std is at least ``std_floor`` x the group's mean std."""
        if not std_floor > 0:
            raise ValueError(f"std_floor: expected a positive fraction, got {std_floor}")
        std = inputs.std(dim=0, unbiased=False)
        floored = torch.ones_like(std)
        for group in (slice(0, self.feature_dim), slice(self.feature_dim, self.input_dim)):
            group_std = std[group]
            if group_std.numel() == 0:
                continue
            scale = float(group_std.mean())
            if scale > 0:  # a group that never varies keeps std 1 (its inputs pass unscaled)
                floored[group] = torch.clamp(group_std, min=std_floor * scale)
        self.input_mean.copy_(inputs.mean(dim=0))
        self.input_std.copy_(floored)

    def standardise(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) raw inputs -> standardised and clipped, what the MLP sees."""
        scaled = (inputs - self.input_mean) / self.input_std
        if self.input_clip is not None:
            scaled = scaled.clamp(-self.input_clip, self.input_clip)
        return scaled

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) raw [features ; proprioception] -> (B, 4) actions (unclipped)."""
        return self.mlp(self.standardise(inputs))

    @torch.no_grad()
    def act(self, features: np.ndarray, proprio: np.ndarray) -> np.ndarray:
        """One action (4,) float32 in [-1, 1] from (D,) or (1, D) features and (4,) proprioception."""
        parameter = next(self.parameters())
        row = np.concatenate([np.asarray(features, np.float32).reshape(-1), np.asarray(proprio, np.float32)])
        if row.shape[0] != self.input_dim:
            raise ValueError(f"act: expected {self.feature_dim} features + {PROPRIO_DIM} proprio, got {row.shape[0]}")
        inputs = torch.from_numpy(row).to(parameter.device)[None]
        return np.clip(self(inputs)[0].float().cpu().numpy(), -1.0, 1.0)

    def save(self, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
        """Write the policy (weights, standardisation and shape) atomically."""
        path = Path(path)
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        payload = {
            "feature_dim": self.feature_dim,
            "hidden": self.hidden,
            "input_clip": self.input_clip,
            "state_dict": state,
            "extra": extra or {},
        }
        with atomic_path(path) as temp:
            torch.save(payload, temp)
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> BCPolicy:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
        # Policies saved before input clipping existed did not clip.
        policy = cls(feature_dim=payload["feature_dim"], hidden=payload["hidden"], input_clip=payload.get("input_clip"))
        policy.load_state_dict(payload["state_dict"])
        return policy.to(device).eval()
