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
MIN_STD = 1e-6  # inputs that never vary in the demos are left unscaled instead of divided by ~0


class BCPolicy(nn.Module):
    """An MLP with ReLU between ``hidden`` layers and a linear 4-d output.

    The input standardisation (mean/std of the training inputs) lives in buffers, so a saved policy acts
    on raw features and proprioception by itself.
    """

    def __init__(self, *, feature_dim: int, hidden: list[int] | tuple[int, ...] = (256, 256, 256)) -> None:
        super().__init__()
        self.feature_dim = int(feature_dim)
        self.hidden = [int(width) for width in hidden]
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

    def set_standardisation(self, inputs: torch.Tensor) -> None:
        """Standardise with the mean and std of the (N, input_dim) training inputs."""
        std = inputs.std(dim=0, unbiased=False)
        self.input_mean.copy_(inputs.mean(dim=0))
        self.input_std.copy_(torch.where(std > MIN_STD, std, torch.ones_like(std)))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) raw [features ; proprioception] -> (B, 4) actions (unclipped)."""
        return self.mlp((inputs - self.input_mean) / self.input_std)

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
        payload = {"feature_dim": self.feature_dim, "hidden": self.hidden, "state_dict": state, "extra": extra or {}}
        with atomic_path(path) as temp:
            torch.save(payload, temp)
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> BCPolicy:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
        policy = cls(feature_dim=payload["feature_dim"], hidden=payload["hidden"])
        policy.load_state_dict(payload["state_dict"])
        return policy.to(device).eval()
