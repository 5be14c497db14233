"""The behaviour-cloning policy: [frozen image features ; proprioception] -> input transform -> MLP -> action.

Input transforms (``bc.input_transform``), fitted on the training demos only and stored in the policy:

- ``standardise``: each input dimension standardised (the first protocol).
- ``pca_whiten``: the standardised image features projected on their top ``transform_width`` principal
  components and each component scaled to unit variance, so a few dominant directions of a collapsed encoder
  cannot drown the rest (issue 22: per-dimension standardisation does not undo them). The proprioception is
  standardised as before; the calibration rows pass through the same transform (the blind row has no
  features, so only its proprioception is standardised).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

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
InputTransform = Literal["standardise", "pca_whiten"]
INPUT_TRANSFORMS = ("standardise", "pca_whiten")
TRANSFORM_WIDTH = 32


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
        input_transform: InputTransform = "standardise",
        transform_width: int = TRANSFORM_WIDTH,
    ) -> None:
        super().__init__()
        if input_clip is not None and not input_clip > 0:
            raise ValueError(f"input_clip: expected a positive number or None, got {input_clip}")
        if input_transform not in INPUT_TRANSFORMS:
            raise ValueError(f"input_transform: expected one of {list(INPUT_TRANSFORMS)}, got {input_transform!r}")
        if transform_width < 1:
            raise ValueError(f"transform_width: expected a positive width, got {transform_width}")
        self.feature_dim = int(feature_dim)
        self.hidden = [int(width) for width in hidden]
        self.input_clip = None if input_clip is None else float(input_clip)
        self.input_transform = input_transform
        self.transform_width = int(transform_width)
        whiten = input_transform == "pca_whiten"
        self.mlp_feature_dim = min(self.transform_width, self.feature_dim) if whiten else self.feature_dim
        width = self.mlp_feature_dim + PROPRIO_DIM
        layers: list[nn.Module] = []
        for out in self.hidden:
            layers += [nn.Linear(width, out), nn.ReLU()]
            width = out
        layers.append(nn.Linear(width, ACTION_DIM))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("input_mean", torch.zeros(self.input_dim))
        self.register_buffer("input_std", torch.ones(self.input_dim))
        if whiten:  # (D, k) principal directions of the standardised features, and 1 / sqrt(variance) of each
            self.register_buffer("components", torch.eye(self.feature_dim, self.mlp_feature_dim))
            self.register_buffer("component_scale", torch.ones(self.mlp_feature_dim))

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
        if self.input_transform == "pca_whiten":
            self._fit_whitening((inputs - self.input_mean) / self.input_std, std_floor=std_floor)

    def _fit_whitening(self, scaled: torch.Tensor, *, std_floor: float) -> None:
        """Top principal directions of the standardised training features; a component's variance is floored
        at std_floor^2 x their mean variance (as the std floor does per dimension), so a direction the demos
        barely use is not blown up to unit variance."""
        if self.mlp_feature_dim == 0:
            return
        features = scaled[:, : self.feature_dim].double()
        covariance = features.T @ features / max(1, features.shape[0])
        variances, vectors = torch.linalg.eigh(covariance)  # ascending
        variances = variances.flip(0)[: self.mlp_feature_dim].clamp_min(0.0)
        vectors = vectors.flip(1)[:, : self.mlp_feature_dim]
        # eigh's signs are arbitrary: make each direction's largest entry positive, so a fit is reproducible
        signs = torch.sign(vectors.gather(0, vectors.abs().argmax(dim=0, keepdim=True)))
        vectors = vectors * torch.where(signs == 0, torch.ones_like(signs), signs)
        floor = std_floor**2 * float(variances.mean()) if float(variances.mean()) > 0 else 1.0
        self.components.copy_(vectors.to(self.components.dtype))
        self.component_scale.copy_(variances.clamp_min(floor).rsqrt().to(self.component_scale.dtype))

    def standardise(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) raw inputs -> transformed and clipped, what the MLP sees."""
        scaled = (inputs - self.input_mean) / self.input_std
        if self.input_transform == "pca_whiten":
            whitened = scaled[:, : self.feature_dim] @ self.components * self.component_scale
            scaled = torch.cat([whitened, scaled[:, self.feature_dim :]], dim=1)
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
            "input_transform": self.input_transform,
            "transform_width": self.transform_width,
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
        # Policies saved before input transforms existed standardised their inputs.
        policy = cls(
            feature_dim=payload["feature_dim"],
            hidden=payload["hidden"],
            input_clip=payload.get("input_clip"),
            input_transform=payload.get("input_transform", "standardise"),
            transform_width=payload.get("transform_width", TRANSFORM_WIDTH),
        )
        policy.load_state_dict(payload["state_dict"])
        return policy.to(device).eval()
