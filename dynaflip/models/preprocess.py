"""Image preprocessing that matches an encoder: resize, centre crop, scale to [0, 1], normalise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """Callable turning uint8 images into the normalised float batch an encoder expects.

    Accepts an (H, W, 3) uint8 array, a list of them, an (B, H, W, 3) uint8 array, or a uint8/float tensor
    (B, 3, H, W) / (3, H, W) (floats are taken as already in [0, 1]). The short side is resized to
    ``size`` (bilinear, antialiased) and the centre ``size`` x ``size`` crop kept.
    """

    size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __call__(self, images: np.ndarray | torch.Tensor | Sequence[np.ndarray]) -> torch.Tensor:
        batch = to_float_batch(images)
        batch = resize_and_crop(batch, size=self.size)
        mean = torch.tensor(self.mean, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
        return (batch - mean) / std

    def to_dict(self) -> dict:
        return {"size": self.size, "mean": list(self.mean), "std": list(self.std)}


def to_float_batch(images: np.ndarray | torch.Tensor | Sequence[np.ndarray]) -> torch.Tensor:
    """Any supported image input as a float32 (B, 3, H, W) tensor in [0, 1]."""
    if isinstance(images, list | tuple):
        images = np.stack([np.asarray(image) for image in images])
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images: expected (H, W, 3) or (B, H, W, 3) uint8 arrays, got shape {images.shape}")
        images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images: expected a numpy array or torch tensor, got {type(images).__name__}")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images: expected a (B, 3, H, W) tensor, got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    return images.float()


def resize_and_crop(batch: torch.Tensor, *, size: int) -> torch.Tensor:
    """Resize the short side to ``size`` and keep the centre square."""
    height, width = batch.shape[-2:]
    if (height, width) != (size, size):
        scale = size / min(height, width)
        new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
        batch = F.interpolate(batch, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        batch = batch[..., top : top + size, left : left + size]
    return batch
